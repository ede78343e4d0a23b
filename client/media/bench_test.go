//go:build !js

package media

const childEnv = "STAGEKIT_MEDIA_CHILD_SERVER"

func childServer() int { return 0 }
