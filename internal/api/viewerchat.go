package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivschat"
	"github.com/onair-video/onair/internal/playback"
	"github.com/onair-video/onair/internal/ratelimit"
)

// A channel's chat: IVS leaves it to an app's backend to pair a room with
// a channel and to give viewers chat tokens. onair's player page has no
// backend but onair, so onair does both: the tag TagChatRoom on a channel
// names its room (set with TagResource, as the console does), and
// POST /v1/channels/{channelId}/chat-token gives any viewer who may watch
// the channel a token for it, without a signature (docs/chat.md).

// TagChatRoom is the channel tag whose value is the ARN of its chat room.
const TagChatRoom = "onair:chat-room"

const (
	// viewerChatSession is a viewer token's session; the client library
	// asks for a new token before it ends.
	viewerChatSession = 60
	// maxDisplayName bounds the name a viewer chats under, in characters.
	maxDisplayName = 32
	// viewerKeyMin and viewerKeyMax bound the secret a viewer's page keeps
	// to chat under the same userId from visit to visit.
	viewerKeyMin, viewerKeyMax = 16, 128
	// viewerChatBody bounds the request body.
	viewerChatBody = 1 << 10
)

// viewerChatTokens is the budget of viewer tokens per client address: a
// page takes one per connection (and the library one before a session
// ends), so 20 at once and one every 3 s cover many viewers behind one
// address and stop a script minting thousands.
func viewerChatTokens() *ratelimit.Table { return ratelimit.New(20, 3*time.Second) }

type viewerChatInput struct {
	// DisplayName is the name the viewer's messages show; without it the
	// token only reads the room.
	DisplayName string `json:"displayName"`
	// ViewerKey is a secret the viewer's page keeps; the userId is derived
	// from it, so no one can take another viewer's userId (which every
	// message shows) by knowing it.
	ViewerKey string `json:"viewerKey"`
}

type viewerChatOutput struct {
	ivschat.ChatToken
	RoomARN string `json:"roomArn"`
	UserID  string `json:"userId"`
}

func (a *API) registerViewerChat(mux *http.ServeMux) {
	const pattern = "/v1/channels/{channelId}/chat-token"
	mux.HandleFunc("POST "+pattern, func(w http.ResponseWriter, r *http.Request) {
		a.run(w, r, "CreateViewerChatToken", chatSigningName, a.viewerChatToken)
	})
	// A page on another origin sends JSON, so its browser asks first.
	mux.HandleFunc("OPTIONS "+pattern, func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "POST")
		h.Set("Access-Control-Allow-Headers", "Content-Type")
		h.Set("Access-Control-Max-Age", "3600")
		w.WriteHeader(http.StatusNoContent)
	})
}

func (a *API) viewerChatToken(w http.ResponseWriter, r *http.Request) (int, error) {
	ctx := r.Context()
	// A page on another origin may read why it was refused; a token goes
	// only to the origins the channel's policy allows (below).
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if a.chat == nil || a.playback == nil {
		return 0, &ivs.Error{Code: ivs.CodeResourceNotFound, Message: "chat is not enabled on this server"}
	}
	if !a.viewerChat.Allow(ratelimit.Host(r.RemoteAddr)) {
		return 0, &ivs.Error{Code: ivs.CodeThrottling, Message: "Rate exceeded: too many chat tokens for this client address"}
	}
	in, err := decodeViewerChat(w, r)
	if err != nil {
		return 0, err
	}
	id := r.PathValue("channelId")
	// Whoever may watch the channel may read its chat: a private channel
	// needs the page's playback token, a restriction policy applies.
	g, err := a.playback.Authorize(ctx, playback.FromRequest(r, id, false))
	if d, ok := errors.AsType[*playback.Denied](err); ok {
		if d.Status == http.StatusNotFound {
			return 0, &ivs.Error{Code: ivs.CodeResourceNotFound, Message: "no such channel"}
		}
		return 0, &ivs.Error{Code: ivs.CodeAccessDenied, Message: d.Reason}
	} else if err != nil {
		return 0, err
	}
	arn := ivs.ARN{Region: a.svc.Region(), Account: a.svc.AccountID(), Resource: ivs.ResourceChannel, ID: id}.String()
	tags, err := a.svc.ListTagsForResource(ctx, arn)
	if err != nil {
		return 0, err
	}
	room := tags[TagChatRoom]
	if room == "" {
		return 0, &ivs.Error{Code: ivs.CodeResourceNotFound, Message: "the channel has no chat room (tag " + TagChatRoom + ")"}
	}
	tok := ivschat.CreateChatTokenInput{RoomIdentifier: room, UserID: viewerUserID(in.ViewerKey),
		SessionDurationInMinutes: new(int32(viewerChatSession)), Attributes: map[string]string{"role": "viewer"}}
	if in.DisplayName != "" {
		tok.Capabilities = []string{ivschat.CapSendMessage}
		tok.Attributes["displayName"] = in.DisplayName
	}
	out, err := a.chatSvc.CreateChatToken(ctx, tok)
	if e, ok := ivs.AsError(err); ok && e.Code == ivs.CodeResourceNotFound {
		return 0, &ivs.Error{Code: ivs.CodeResourceNotFound, Message: "the channel's chat room no longer exists"}
	} else if err != nil {
		return 0, err
	}
	w.Header().Set("Access-Control-Allow-Origin", g.AllowOrigin)
	w.Header().Add("Vary", "Origin")
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, viewerChatOutput{ChatToken: out, RoomARN: room, UserID: tok.UserID}), nil
}

// decodeViewerChat reads the request's body and parses it.
func decodeViewerChat(w http.ResponseWriter, r *http.Request) (viewerChatInput, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, viewerChatBody))
	if err != nil {
		return viewerChatInput{}, ivs.Validation("", "the request body is over %d bytes", viewerChatBody)
	}
	return parseViewerChat(b)
}

// parseViewerChat reads and checks a token request's JSON; an empty body
// is a reader's request.
func parseViewerChat(b []byte) (viewerChatInput, error) {
	var in viewerChatInput
	if len(strings.TrimSpace(string(b))) > 0 {
		if err := json.Unmarshal(b, &in); err != nil {
			return in, ivs.Validation("", "the request body is not a JSON object of displayName and viewerKey: %v", err)
		}
	}
	in.DisplayName = strings.TrimSpace(in.DisplayName)
	if n := utf8.RuneCountInString(in.DisplayName); !utf8.ValidString(in.DisplayName) || n > maxDisplayName ||
		strings.ContainsFunc(in.DisplayName, unicode.IsControl) {
		return in, ivs.Validation("displayName", "displayName must be at most %d printable characters", maxDisplayName)
	}
	if k := in.ViewerKey; k != "" && (len(k) < viewerKeyMin || len(k) > viewerKeyMax) {
		return in, ivs.Validation("viewerKey", "viewerKey must be %d to %d characters", viewerKeyMin, viewerKeyMax)
	}
	return in, nil
}

// viewerUserID derives a viewer's userId from the page's secret, or makes
// a new one for a page without it.
func viewerUserID(key string) string {
	if key == "" {
		return "viewer-" + ivs.NewResourceID()
	}
	sum := sha256.Sum256([]byte("onair viewer chat\x00" + key))
	return fmt.Sprintf("viewer-%s", hex.EncodeToString(sum[:8]))
}
