package ivschat

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/onair-video/onair/internal/ivs"
)

// Room limits and defaults, as IVS Chat's.
const (
	defaultMessageRate   = 10
	maxMessageRate       = 100
	defaultMessageLength = 500
	maxMessageLength     = 500
	maxRoomLogging       = 3
	maxReviewURILen      = 170
	// MaxRooms is the rooms an account may have (IVS's default quota).
	MaxRooms = 50_000
)

// Message review fallback results.
const (
	ReviewAllow = "ALLOW"
	ReviewDeny  = "DENY"
)

// MessageReviewHandler is a room's message review handler. IVS calls an AWS
// Lambda function; onair calls Uri, an http(s) URL, with the same request
// and response JSON.
type MessageReviewHandler struct {
	URI            string `json:"uri"`
	FallbackResult string `json:"fallbackResult"`
}

// Room is an IVS Chat room.
type Room struct {
	ID                              string                `json:"id"`
	ARN                             string                `json:"arn"`
	Name                            string                `json:"name"`
	CreateTime                      time.Time             `json:"createTime"`
	UpdateTime                      time.Time             `json:"updateTime"`
	MaximumMessageRatePerSecond     int32                 `json:"maximumMessageRatePerSecond"`
	MaximumMessageLength            int32                 `json:"maximumMessageLength"`
	MessageReviewHandler            *MessageReviewHandler `json:"messageReviewHandler,omitempty"`
	LoggingConfigurationIdentifiers []string              `json:"loggingConfigurationIdentifiers"`
	Tags                            map[string]string     `json:"tags"`
}

// RoomInput holds a room's settable fields; absent (nil) means unchanged on
// update, default on create.
type RoomInput struct {
	Name                            *string               `json:"name"`
	MaximumMessageRatePerSecond     *int32                `json:"maximumMessageRatePerSecond"`
	MaximumMessageLength            *int32                `json:"maximumMessageLength"`
	MessageReviewHandler            *MessageReviewHandler `json:"messageReviewHandler"`
	LoggingConfigurationIdentifiers *[]string             `json:"loggingConfigurationIdentifiers"`
}

// CreateRoomInput is the input of CreateRoom.
type CreateRoomInput struct {
	RoomInput
	Tags map[string]string `json:"tags"`
}

// UpdateRoomInput is the input of UpdateRoom.
type UpdateRoomInput struct {
	Identifier string `json:"identifier"`
	RoomInput
}

// ListRoomsInput is the input of ListRooms.
type ListRoomsInput struct {
	Name                           string `json:"name"`
	MessageReviewHandlerURI        string `json:"messageReviewHandlerUri"`
	LoggingConfigurationIdentifier string `json:"loggingConfigurationIdentifier"`
	NextToken                      string `json:"nextToken"`
	MaxResults                     *int32 `json:"maxResults"`
}

func (s *Service) rooms() ivs.Docs[Room] {
	return ivs.Docs[Room]{Store: s.docs, Kind: ivs.ResourceRoom, Noun: "room", ID: func(r *Room) string { return r.ID }}
}

// apply validates in and sets it on r.
func (in *RoomInput) apply(ctx context.Context, s *Service, r *Room) error {
	if in.Name != nil {
		if err := ivs.ValidateName("name", *in.Name); err != nil {
			return err
		}
		r.Name = *in.Name
	}
	if v := in.MaximumMessageRatePerSecond; v != nil {
		if *v < 1 || *v > maxMessageRate {
			return ivs.Validation("maximumMessageRatePerSecond", "maximumMessageRatePerSecond must be between 1 and %d", maxMessageRate)
		}
		r.MaximumMessageRatePerSecond = *v
	}
	if v := in.MaximumMessageLength; v != nil {
		if *v < 1 || *v > maxMessageLength {
			return ivs.Validation("maximumMessageLength", "maximumMessageLength must be between 1 and %d", maxMessageLength)
		}
		r.MaximumMessageLength = *v
	}
	if h := in.MessageReviewHandler; h != nil {
		handler, err := validateReviewHandler(*h)
		if err != nil {
			return err
		}
		r.MessageReviewHandler = handler
	}
	if ids := in.LoggingConfigurationIdentifiers; ids != nil {
		if len(*ids) > maxRoomLogging {
			return ivs.Validation("loggingConfigurationIdentifiers", "loggingConfigurationIdentifiers may hold at most %d ARNs", maxRoomLogging)
		}
		out := make([]string, 0, len(*ids))
		for _, id := range *ids {
			if _, err := s.loggingConfiguration(ctx, "loggingConfigurationIdentifiers", id); err != nil {
				return err
			}
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
		r.LoggingConfigurationIdentifiers = out
	}
	return nil
}

// validateReviewHandler checks a message review handler; an empty uri
// detaches it (nil).
func validateReviewHandler(h MessageReviewHandler) (*MessageReviewHandler, error) {
	if h.URI == "" {
		return nil, nil
	}
	if h.FallbackResult == "" {
		h.FallbackResult = ReviewAllow
	}
	if err := ivs.ValidateEnum("messageReviewHandler.fallbackResult", h.FallbackResult, ReviewAllow, ReviewDeny); err != nil {
		return nil, err
	}
	if strings.HasPrefix(h.URI, "arn:aws:lambda:") {
		return nil, ivs.Validation("messageReviewHandler.uri",
			"messageReviewHandler.uri: onair cannot call AWS Lambda; give the http(s) URL of a handler that takes Lambda's request and answers its response")
	}
	u, err := url.Parse(h.URI)
	if len(h.URI) > maxReviewURILen || !utf8.ValidString(h.URI) || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, ivs.Validation("messageReviewHandler.uri", "messageReviewHandler.uri must be an http(s) URL of at most %d characters", maxReviewURILen)
	}
	return &h, nil
}

// CreateRoom creates a chat room.
func (s *Service) CreateRoom(ctx context.Context, in CreateRoomInput) (Room, error) {
	if err := ivs.ValidateTags("tags", in.Tags); err != nil {
		return Room{}, err
	}
	id := ivs.NewResourceID()
	now := s.now().UTC()
	r := Room{ID: id, ARN: s.scope.ARN(ivs.ResourceRoom, id), CreateTime: now, UpdateTime: now,
		MaximumMessageRatePerSecond: defaultMessageRate, MaximumMessageLength: defaultMessageLength,
		LoggingConfigurationIdentifiers: []string{}, Tags: ivs.CloneTags(in.Tags)}
	if err := in.apply(ctx, s, &r); err != nil {
		return Room{}, err
	}
	n, err := s.rooms().Count(ctx)
	if err != nil {
		return Room{}, err
	}
	if n >= MaxRooms {
		return Room{}, &ivs.Error{Code: ivs.CodeServiceQuotaExceeded, ResourceID: id, ResourceType: "ROOM", Limit: MaxRooms,
			Message: fmt.Sprintf("the account has %d rooms, the most it may have", n)}
	}
	if err := s.rooms().Create(ctx, &r, now); err != nil {
		return Room{}, err
	}
	return r, nil
}

// GetRoom returns the room named by its ARN.
func (s *Service) GetRoom(ctx context.Context, identifier string) (Room, error) {
	return s.room(ctx, "identifier", identifier)
}

func (s *Service) room(ctx context.Context, field, arn string) (Room, error) {
	a, err := s.scope.OwnARN(field, ivs.ResourceRoom, arn)
	if err != nil {
		return Room{}, err
	}
	return s.rooms().Get(ctx, a.ID, arn)
}

// MessagingRoom returns the room named by the roomIdentifier of
// SendEvent, DeleteMessage and DisconnectUser.
func (s *Service) MessagingRoom(ctx context.Context, roomIdentifier string) (Room, error) {
	return s.room(ctx, "roomIdentifier", roomIdentifier)
}

// RoomByID returns the room with id (the messaging server knows rooms by
// the id in a chat token).
func (s *Service) RoomByID(ctx context.Context, id string) (Room, error) {
	return s.rooms().Get(ctx, id, s.scope.ARN(ivs.ResourceRoom, id))
}

// UpdateRoom changes the given fields of a room.
func (s *Service) UpdateRoom(ctx context.Context, in UpdateRoomInput) (Room, error) {
	r, err := s.room(ctx, "identifier", in.Identifier)
	if err != nil {
		return Room{}, err
	}
	if err := in.apply(ctx, s, &r); err != nil {
		return Room{}, err
	}
	r.UpdateTime = s.now().UTC()
	if err := s.rooms().Update(ctx, &r, in.Identifier); err != nil {
		return Room{}, err
	}
	return r, nil
}

// DeleteRoom deletes a room.
func (s *Service) DeleteRoom(ctx context.Context, identifier string) error {
	r, err := s.room(ctx, "identifier", identifier)
	if err != nil {
		return err
	}
	return s.rooms().Delete(ctx, r.ID, identifier)
}

// ListRooms returns a page of rooms, most recently updated first, that
// match the filters.
func (s *Service) ListRooms(ctx context.Context, in ListRoomsInput) ([]Room, string, error) {
	n, err := ivs.ValidatePage(in.NextToken, in.MaxResults, 1, 50, 50)
	if err != nil {
		return nil, "", err
	}
	after, err := ivs.DecodeToken(in.NextToken)
	if err != nil {
		return nil, "", err
	}
	all, err := s.rooms().All(ctx)
	if err != nil {
		return nil, "", err
	}
	all = slices.DeleteFunc(all, func(r Room) bool {
		return (in.Name != "" && r.Name != in.Name) ||
			(in.MessageReviewHandlerURI != "" && (r.MessageReviewHandler == nil || r.MessageReviewHandler.URI != in.MessageReviewHandlerURI)) ||
			(in.LoggingConfigurationIdentifier != "" && !slices.Contains(r.LoggingConfigurationIdentifiers, in.LoggingConfigurationIdentifier))
	})
	slices.SortFunc(all, func(a, b Room) int {
		return cmp.Or(b.UpdateTime.Compare(a.UpdateTime), cmp.Compare(a.ID, b.ID))
	})
	// The token is the sort key of the last room given: the page goes on
	// after it even if rooms were added or changed meanwhile.
	key := func(r Room) string { return r.UpdateTime.Format(time.RFC3339Nano) + "|" + r.ID }
	if after != "" {
		i, found := slices.BinarySearchFunc(all, after, func(r Room, k string) int {
			t, id, _ := strings.Cut(k, "|")
			at, err := time.Parse(time.RFC3339Nano, t)
			if err != nil {
				return -1
			}
			return cmp.Or(at.Compare(r.UpdateTime), cmp.Compare(r.ID, id))
		})
		if found {
			i++
		}
		all = all[i:]
	}
	page, next := ivs.TrimPage(all, n, key)
	return page, next, nil
}
