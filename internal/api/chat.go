package api

import (
	"context"
	"unicode/utf8"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivschat"
)

// chatOperations lists every operation of IVS Chat (aws-sdk-go-v2/service/
// ivschat v1.22.2) but the tag operations, which share IVS's paths.
func chatOperations() []*operation {
	return []*operation{
		chat("CreateRoom", typed(createRoom)),
		chat("GetRoom", typed(getRoom)),
		chat("UpdateRoom", typed(updateRoom)),
		chat("DeleteRoom", typed(deleteRoom)).withStatus(204),
		chat("ListRooms", typed(listRooms)),

		chat("CreateLoggingConfiguration", typed(createLoggingConfiguration)),
		chat("GetLoggingConfiguration", typed(getLoggingConfiguration)),
		chat("UpdateLoggingConfiguration", typed(updateLoggingConfiguration)),
		chat("DeleteLoggingConfiguration", typed(deleteLoggingConfiguration)).withStatus(204),
		chat("ListLoggingConfigurations", typed(listLoggingConfigurations)),

		chat("CreateChatToken", typed(createChatToken)),
		chat("SendEvent", typed(sendEvent)),
		chat("DeleteMessage", typed(deleteMessage)),
		chat("DisconnectUser", typed(disconnectUser)),
	}
}

// identifierInput is the input of the chat operations that name one
// resource.
type identifierInput struct {
	Identifier string `json:"identifier"`
}

// roomOut gives a room's tags and logging identifiers as lists and maps,
// never null.
func roomOut(r ivschat.Room) ivschat.Room {
	r.Tags = nonNil(r.Tags)
	if r.LoggingConfigurationIdentifiers == nil {
		r.LoggingConfigurationIdentifiers = []string{}
	}
	return r
}

func createRoom(ctx context.Context, a *API, _ *call, in *ivschat.CreateRoomInput) (any, error) {
	r, err := a.chatSvc.CreateRoom(ctx, *in)
	if err != nil {
		return nil, err
	}
	return roomOut(r), nil
}

func getRoom(ctx context.Context, a *API, _ *call, in *identifierInput) (any, error) {
	r, err := a.chatSvc.GetRoom(ctx, in.Identifier)
	if err != nil {
		return nil, err
	}
	return roomOut(r), nil
}

func updateRoom(ctx context.Context, a *API, _ *call, in *ivschat.UpdateRoomInput) (any, error) {
	r, err := a.chatSvc.UpdateRoom(ctx, *in)
	if err != nil {
		return nil, err
	}
	return roomOut(r), nil
}

func deleteRoom(ctx context.Context, a *API, _ *call, in *identifierInput) (any, error) {
	r, err := a.chatSvc.GetRoom(ctx, in.Identifier)
	if err != nil {
		return nil, err
	}
	if err := a.chatSvc.DeleteRoom(ctx, in.Identifier); err != nil {
		return nil, err
	}
	if a.chat != nil {
		a.chat.CloseRoom(r.ID) // its clients are disconnected, as on IVS
	}
	return nil, nil
}

type listRoomsOutput struct {
	Rooms     []ivschat.Room `json:"rooms"`
	NextToken string         `json:"nextToken,omitempty"`
}

func listRooms(ctx context.Context, a *API, _ *call, in *ivschat.ListRoomsInput) (any, error) {
	rs, next, err := a.chatSvc.ListRooms(ctx, *in)
	if err != nil {
		return nil, err
	}
	out := listRoomsOutput{Rooms: make([]ivschat.Room, len(rs)), NextToken: next}
	for i, r := range rs {
		out.Rooms[i] = roomOut(r)
	}
	return out, nil
}

func loggingOut(l ivschat.LoggingConfiguration) ivschat.LoggingConfiguration {
	l.Tags = nonNil(l.Tags)
	return l
}

func createLoggingConfiguration(ctx context.Context, a *API, _ *call, in *ivschat.CreateLoggingConfigurationInput) (any, error) {
	l, err := a.chatSvc.CreateLoggingConfiguration(ctx, *in)
	if err != nil {
		return nil, err
	}
	return loggingOut(l), nil
}

func getLoggingConfiguration(ctx context.Context, a *API, _ *call, in *identifierInput) (any, error) {
	l, err := a.chatSvc.GetLoggingConfiguration(ctx, in.Identifier)
	if err != nil {
		return nil, err
	}
	return loggingOut(l), nil
}

func updateLoggingConfiguration(ctx context.Context, a *API, _ *call, in *ivschat.UpdateLoggingConfigurationInput) (any, error) {
	l, err := a.chatSvc.UpdateLoggingConfiguration(ctx, *in)
	if err != nil {
		return nil, err
	}
	return loggingOut(l), nil
}

func deleteLoggingConfiguration(ctx context.Context, a *API, _ *call, in *identifierInput) (any, error) {
	return nil, a.chatSvc.DeleteLoggingConfiguration(ctx, in.Identifier)
}

type listLoggingOutput struct {
	LoggingConfigurations []ivschat.LoggingConfiguration `json:"loggingConfigurations"`
	NextToken             string                         `json:"nextToken,omitempty"`
}

func listLoggingConfigurations(ctx context.Context, a *API, _ *call, in *ivschat.ListLoggingConfigurationsInput) (any, error) {
	ls, next, err := a.chatSvc.ListLoggingConfigurations(ctx, *in)
	if err != nil {
		return nil, err
	}
	out := listLoggingOutput{LoggingConfigurations: make([]ivschat.LoggingConfiguration, len(ls)), NextToken: next}
	for i, l := range ls {
		out.LoggingConfigurations[i] = loggingOut(l)
	}
	return out, nil
}

func createChatToken(ctx context.Context, a *API, _ *call, in *ivschat.CreateChatTokenInput) (any, error) {
	return a.chatSvc.CreateChatToken(ctx, *in)
}

// messagingRoom checks a messaging operation's room and that the
// messaging service runs.
func (a *API) messagingRoom(ctx context.Context, roomIdentifier string) (ivschat.Room, error) {
	if a.chat == nil {
		return ivschat.Room{}, ivs.Validation("", "chat messaging is not enabled on this server")
	}
	return a.chatSvc.MessagingRoom(ctx, roomIdentifier)
}

type sendEventInput struct {
	RoomIdentifier string            `json:"roomIdentifier"`
	EventName      string            `json:"eventName"`
	Attributes     map[string]string `json:"attributes"`
}

type idOutput struct {
	ID string `json:"id"`
}

func sendEvent(ctx context.Context, a *API, _ *call, in *sendEventInput) (any, error) {
	r, err := a.messagingRoom(ctx, in.RoomIdentifier)
	if err != nil {
		return nil, err
	}
	if in.EventName == "" || utf8.RuneCountInString(in.EventName) > 100 {
		return nil, ivs.Validation("eventName", "eventName must be 1 to 100 characters")
	}
	n := 0
	for k, v := range in.Attributes {
		n += len(k) + len(v)
	}
	if n > 1024 {
		return nil, ivs.Validation("attributes", "attributes may hold at most 1 KB of keys and values")
	}
	id, err := a.chat.SendEventErr(ctx, r.ID, in.EventName, in.Attributes)
	return idOutput{id}, messagingErr(err)
}

type deleteMessageInput struct {
	RoomIdentifier string `json:"roomIdentifier"`
	ID             string `json:"id"`
	Reason         string `json:"reason"`
}

func deleteMessage(ctx context.Context, a *API, _ *call, in *deleteMessageInput) (any, error) {
	r, err := a.messagingRoom(ctx, in.RoomIdentifier)
	if err != nil {
		return nil, err
	}
	if len(in.ID) != 12 {
		return nil, ivs.Validation("id", "id must be a message id of 12 characters")
	}
	if utf8.RuneCountInString(in.Reason) > 256 {
		return nil, ivs.Validation("reason", "reason must be at most 256 characters")
	}
	id, err := a.chat.DeleteMessageErr(ctx, r.ID, in.ID, in.Reason, "")
	return idOutput{id}, messagingErr(err)
}

type disconnectUserInput struct {
	RoomIdentifier string `json:"roomIdentifier"`
	UserID         string `json:"userId"`
	Reason         string `json:"reason"`
}

func disconnectUser(ctx context.Context, a *API, _ *call, in *disconnectUserInput) (any, error) {
	r, err := a.messagingRoom(ctx, in.RoomIdentifier)
	if err != nil {
		return nil, err
	}
	if in.UserID == "" || utf8.RuneCountInString(in.UserID) > 128 {
		return nil, ivs.Validation("userId", "userId must be 1 to 128 characters")
	}
	if utf8.RuneCountInString(in.Reason) > 256 {
		return nil, ivs.Validation("reason", "reason must be at most 256 characters")
	}
	if err := a.chat.DisconnectUserErr(ctx, r.ID, in.UserID, in.Reason, ""); err != nil {
		return nil, messagingErr(err)
	}
	return struct{}{}, nil
}

// messagingErr is the API's answer to a failure of the messaging service:
// in a cluster, the room's home node out of reach, which IVS Chat's
// InternalServerException tells the caller to retry.
func messagingErr(err error) error {
	if err == nil {
		return nil
	}
	return &ivs.Error{Code: ivs.CodeInternal, Message: "the chat room's messaging is unavailable (the node that runs the room does not answer); try again: " + err.Error()}
}
