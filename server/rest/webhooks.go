package rest

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/stagekit/stagekit/server/signal"
	"github.com/stagekit/stagekit/server/store"
)

// Webhook is an endpoint as the API shows it; Secret only in the answer
// to its creation.
type Webhook struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	Secret    string   `json:"secret,omitempty"`
	CreatedAt string   `json:"created_at"`
}

// Delivery is one attempt of the delivery log.
type Delivery struct {
	EventID    string `json:"event_id"`
	Event      string `json:"event"`
	MeetingID  string `json:"meeting_id"`
	Seq        int64  `json:"seq"`
	Attempt    int    `json:"attempt"`
	At         string `json:"at"`
	StatusCode int    `json:"status_code"`
	Error      string `json:"error,omitempty"`
	DurationMs int64  `json:"duration_ms"`
}

// Limits of webhook registration.
const (
	MaxURLBytes    = 2048
	MaxWebhooks    = 100
	MaxLogAttempts = 1000
)

func webhookOut(w store.Webhook, withSecret bool) Webhook {
	out := Webhook{ID: w.ID, Name: w.Name, URL: w.URL, Events: w.Events, CreatedAt: stamp(w.CreatedAt)}
	if withSecret {
		out.Secret = w.Secret
	}
	return out
}

// checkEvents validates and normalizes the event list: known types, or
// "*" alone for all of them.
func checkEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, fail(http.StatusBadRequest, CodeInvalidField, `events: name at least one event, or "*" for all: %s`, strings.Join(signal.EventTypes, ", "))
	}
	var out []string
	for _, e := range events {
		if e == "*" {
			return []string{"*"}, nil
		}
		if !slices.Contains(signal.EventTypes, e) {
			return nil, fail(http.StatusBadRequest, CodeInvalidField, "events: unknown event %q; known: %s", truncate(e, 64), strings.Join(signal.EventTypes, ", "))
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

func checkURL(raw string) error {
	if err := checkText("url", raw, MaxURLBytes, true); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fail(http.StatusBadRequest, CodeInvalidField, "url: want an absolute http(s) URL without credentials")
	}
	return nil
}

func (a *API) createWebhook(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Name   string   `json:"name"`
		URL    string   `json:"url"`
		Events []string `json:"events"`
		Secret string   `json:"secret"` // optional: whsec_ and base64; default a new one
	}
	if err := readBody(w, r, &body); err != nil {
		return err
	}
	body.Name = strings.TrimSpace(body.Name)
	if err := checkText("name", body.Name, MaxNameBytes, false); err != nil {
		return err
	}
	if err := checkURL(body.URL); err != nil {
		return err
	}
	events, err := checkEvents(body.Events)
	if err != nil {
		return err
	}
	secret := body.Secret
	if secret == "" {
		secret = a.newSecret()
	} else if _, err := standardwebhooks.NewWebhook(secret); err != nil || !strings.HasPrefix(secret, "whsec_") || len(secret) > 256 {
		return fail(http.StatusBadRequest, CodeInvalidField, "secret: want whsec_ and a base64 key (or none: one is made)")
	}
	if all, err := a.store.ListWebhooks(r.Context()); err != nil {
		return err
	} else if len(all) >= MaxWebhooks {
		return fail(http.StatusBadRequest, CodeInvalidField, "at most %d webhooks", MaxWebhooks)
	}
	wh, err := a.store.CreateWebhook(r.Context(), store.Webhook{Name: body.Name, URL: body.URL, Events: events, Secret: secret})
	if err != nil {
		return err
	}
	return writeData(w, http.StatusCreated, webhookOut(wh, true))
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	all, err := a.store.ListWebhooks(r.Context())
	if err != nil {
		return err
	}
	out := make([]Webhook, len(all))
	for i, wh := range all {
		out[i] = webhookOut(wh, false)
	}
	return writeData(w, http.StatusOK, out)
}

func (a *API) getWebhook(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("webhook_id")
	wh, err := a.store.GetWebhook(r.Context(), id)
	if err != nil {
		return notFound(err, CodeWebhookNotFound, "webhook", id)
	}
	return writeData(w, http.StatusOK, webhookOut(wh, false))
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("webhook_id")
	wh, err := a.store.GetWebhook(r.Context(), id)
	if err != nil {
		return notFound(err, CodeWebhookNotFound, "webhook", id)
	}
	if err := a.store.DeleteWebhook(r.Context(), id); err != nil {
		return notFound(err, CodeWebhookNotFound, "webhook", id)
	}
	return writeData(w, http.StatusOK, webhookOut(wh, false))
}

// webhookDeliveries answers GET /v1/webhooks/{id}/deliveries?limit=N: the
// latest attempts, newest first.
func (a *API) webhookDeliveries(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("webhook_id")
	limit := DefaultLogPage
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLogAttempts {
			return fail(http.StatusBadRequest, CodeInvalidField, "limit: want 1 to %d", MaxLogAttempts)
		}
		limit = n
	}
	if _, err := a.store.GetWebhook(r.Context(), id); err != nil {
		return notFound(err, CodeWebhookNotFound, "webhook", id)
	}
	log, err := a.store.DeliveryLog(r.Context(), id, limit)
	if err != nil {
		return err
	}
	out := make([]Delivery, len(log))
	for i, at := range log {
		out[i] = Delivery{EventID: at.EventID, Event: at.EventType, MeetingID: at.MeetingID, Seq: at.Seq, Attempt: at.Attempt,
			At: stamp(at.At), StatusCode: at.StatusCode, Error: at.Error, DurationMs: at.Duration.Milliseconds()}
	}
	return writeData(w, http.StatusOK, out)
}

func (a *API) newSecret() string { return a.secrets() }
