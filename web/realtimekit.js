// stagekit/realtimekit: the SDK under @cloudflare/realtimekit's names, so
// that a RealtimeKit app switches with a bundler alias:
//
//   import RealtimeKitClient from "@cloudflare/realtimekit"; // aliased to stagekit/realtimekit
//   const meeting = await RealtimeKitClient.init({ authToken, defaults: { audio: false, video: false } });
//
// init takes RealtimeKit's options (authToken, baseURI, defaults, onError;
// the others are accepted and have no effect here, see the README).
import StageKit, { ClientError } from "./stagekit.js";

export { ClientError };

/** RealtimeKit's request-to-join kinds (this SDK's stage requests are REQUEST_TO_PRESENT). */
export const RequestToJoinType = Object.freeze({ PRESENT: "REQUEST_TO_PRESENT" });

/** RealtimeKit's client class: `RealtimeKitClient.init(options)` resolves with a meeting. */
export default class RealtimeKitClient {
  constructor() {
    throw new ClientError("use RealtimeKitClient.init(options)", "4005");
  }

  /** @param {{ authToken: string, baseURI?: string, defaults?: { audio?: boolean, video?: boolean }, onError?: (e: Error) => void }} options */
  static init(options) {
    return StageKit.init(options);
  }
}
