package api

import (
	"context"

	"github.com/onair-video/onair/internal/ivs"
)

// chatOperations lists every operation of IVS Chat (aws-sdk-go-v2/service/
// ivschat v1.22.2) but the tag operations, which share IVS's paths.
func chatOperations() []*operation {
	const messaging = "issue 11: the messaging service"
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
		chatLater("SendEvent", messaging),
		chatLater("DeleteMessage", messaging),
		chatLater("DisconnectUser", messaging),
	}
}

func chatLater(name, planned string) *operation {
	o := later(name, planned)
	o.service = chatSigningName
	return o
}

// identifierInput is the input of the chat operations that name one
// resource.
type identifierInput struct {
	Identifier string `json:"identifier"`
}

// roomOut gives a room's tags and logging identifiers as lists and maps,
// never null.
func roomOut(r ivs.Room) ivs.Room {
	r.Tags = nonNil(r.Tags)
	if r.LoggingConfigurationIdentifiers == nil {
		r.LoggingConfigurationIdentifiers = []string{}
	}
	return r
}

func createRoom(ctx context.Context, a *API, _ *call, in *ivs.CreateRoomInput) (any, error) {
	r, err := a.svc.CreateRoom(ctx, *in)
	if err != nil {
		return nil, err
	}
	return roomOut(r), nil
}

func getRoom(ctx context.Context, a *API, _ *call, in *identifierInput) (any, error) {
	r, err := a.svc.GetRoom(ctx, in.Identifier)
	if err != nil {
		return nil, err
	}
	return roomOut(r), nil
}

func updateRoom(ctx context.Context, a *API, _ *call, in *ivs.UpdateRoomInput) (any, error) {
	r, err := a.svc.UpdateRoom(ctx, *in)
	if err != nil {
		return nil, err
	}
	return roomOut(r), nil
}

func deleteRoom(ctx context.Context, a *API, _ *call, in *identifierInput) (any, error) {
	return nil, a.svc.DeleteRoom(ctx, in.Identifier)
}

type listRoomsOutput struct {
	Rooms     []ivs.Room `json:"rooms"`
	NextToken string     `json:"nextToken,omitempty"`
}

func listRooms(ctx context.Context, a *API, _ *call, in *ivs.ListRoomsInput) (any, error) {
	rs, next, err := a.svc.ListRooms(ctx, *in)
	if err != nil {
		return nil, err
	}
	out := listRoomsOutput{Rooms: make([]ivs.Room, len(rs)), NextToken: next}
	for i, r := range rs {
		out.Rooms[i] = roomOut(r)
	}
	return out, nil
}

func loggingOut(l ivs.LoggingConfiguration) ivs.LoggingConfiguration {
	l.Tags = nonNil(l.Tags)
	return l
}

func createLoggingConfiguration(ctx context.Context, a *API, _ *call, in *ivs.CreateLoggingConfigurationInput) (any, error) {
	l, err := a.svc.CreateLoggingConfiguration(ctx, *in)
	if err != nil {
		return nil, err
	}
	return loggingOut(l), nil
}

func getLoggingConfiguration(ctx context.Context, a *API, _ *call, in *identifierInput) (any, error) {
	l, err := a.svc.GetLoggingConfiguration(ctx, in.Identifier)
	if err != nil {
		return nil, err
	}
	return loggingOut(l), nil
}

func updateLoggingConfiguration(ctx context.Context, a *API, _ *call, in *ivs.UpdateLoggingConfigurationInput) (any, error) {
	l, err := a.svc.UpdateLoggingConfiguration(ctx, *in)
	if err != nil {
		return nil, err
	}
	return loggingOut(l), nil
}

func deleteLoggingConfiguration(ctx context.Context, a *API, _ *call, in *identifierInput) (any, error) {
	return nil, a.svc.DeleteLoggingConfiguration(ctx, in.Identifier)
}

type listLoggingOutput struct {
	LoggingConfigurations []ivs.LoggingConfiguration `json:"loggingConfigurations"`
	NextToken             string                     `json:"nextToken,omitempty"`
}

func listLoggingConfigurations(ctx context.Context, a *API, _ *call, in *ivs.ListLoggingConfigurationsInput) (any, error) {
	ls, next, err := a.svc.ListLoggingConfigurations(ctx, *in)
	if err != nil {
		return nil, err
	}
	out := listLoggingOutput{LoggingConfigurations: make([]ivs.LoggingConfiguration, len(ls)), NextToken: next}
	for i, l := range ls {
		out.LoggingConfigurations[i] = loggingOut(l)
	}
	return out, nil
}

func createChatToken(ctx context.Context, a *API, _ *call, in *ivs.CreateChatTokenInput) (any, error) {
	return a.svc.CreateChatToken(ctx, *in)
}
