package api

import (
	"context"
	"net/http"
	"time"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/ivsrealtime"
)

// realtimeOperations lists every operation of IVS Real-Time (Stages;
// @aws-sdk/client-ivs-realtime 3.1058.0, botocore 1.43.11) but the tag
// operations, which share IVS's paths. They are signed for the service
// ivs, as IVS's own: their names, all distinct from IVS's, route them.
func realtimeOperations() []*operation {
	const next = "the next issue (compositions, ingest configurations, participant replication)"
	return []*operation{
		post("CreateStage", rt(createStage)),
		post("GetStage", rt(getStage)),
		post("UpdateStage", rt(updateStage)),
		post("DeleteStage", rt(deleteStage)),
		post("ListStages", rt(listStages)),
		post("CreateParticipantToken", rt(createParticipantToken)),

		post("DisconnectParticipant", rt(disconnectParticipant)),
		post("GetParticipant", rt(getParticipant)),
		post("ListParticipants", rt(listParticipants)),
		post("ListParticipantEvents", rt(listParticipantEvents)),
		post("GetStageSession", rt(getStageSession)),
		post("ListStageSessions", rt(listStageSessions)),

		post("ImportPublicKey", rt(importPublicKey)),
		post("GetPublicKey", rt(getPublicKey)),
		post("DeletePublicKey", rt(deletePublicKey)),
		post("ListPublicKeys", rt(listPublicKeys)),

		post("CreateEncoderConfiguration", rt(createEncoderConfiguration)),
		post("GetEncoderConfiguration", rt(getEncoderConfiguration)),
		post("DeleteEncoderConfiguration", rt(deleteEncoderConfiguration)),
		post("ListEncoderConfigurations", rt(listEncoderConfigurations)),

		post("CreateStorageConfiguration", rt(createStorageConfiguration)),
		post("GetStorageConfiguration", rt(getStorageConfiguration)),
		post("DeleteStorageConfiguration", rt(deleteStorageConfiguration)),
		post("ListStorageConfigurations", rt(listStorageConfigurations)),

		post("CreateIngestConfiguration", rt(createIngestConfiguration)),
		post("GetIngestConfiguration", rt(getIngestConfiguration)),
		post("UpdateIngestConfiguration", rt(updateIngestConfiguration)),
		post("DeleteIngestConfiguration", rt(deleteIngestConfiguration)),
		post("ListIngestConfigurations", rt(listIngestConfigurations)),

		later("StartComposition", next),
		later("StopComposition", next),
		later("GetComposition", next),
		later("ListCompositions", next),
		post("StartParticipantReplication", rt(startParticipantReplication)),
		post("StopParticipantReplication", rt(stopParticipantReplication)),
		post("ListParticipantReplicas", rt(listParticipantReplicas)),
	}
}

// rt adapts a Stages handler; without the service (an API built for IVS
// alone, as in some tests) the operation is refused.
func rt[In any](fn func(ctx context.Context, a *API, s *ivsrealtime.Service, c *call, in *In) (any, error)) handlerFunc {
	return typed(func(ctx context.Context, a *API, c *call, in *In) (any, error) {
		if a.rtSvc == nil {
			return nil, ivs.Validation("", "Stages are not enabled on this server")
		}
		return fn(ctx, a, a.rtSvc, c, in)
	})
}

// stageEndpoints are the stage endpoints for a request's answers.
func (a *API) stageEndpoints(r *http.Request) ivsrealtime.Endpoints {
	if a.stageEps == nil {
		return ivsrealtime.Endpoints{}
	}
	return a.stageEps(r)
}

// stageOut is a Stage on the wire.
type stageOut struct {
	ARN                                   string                                            `json:"arn"`
	Name                                  string                                            `json:"name"`
	ActiveSessionID                       string                                            `json:"activeSessionId,omitempty"`
	Tags                                  map[string]string                                 `json:"tags"`
	AutoParticipantRecordingConfiguration ivsrealtime.AutoParticipantRecordingConfiguration `json:"autoParticipantRecordingConfiguration"`
	Endpoints                             ivsrealtime.Endpoints                             `json:"endpoints"`
}

func toStage(st ivsrealtime.Stage, ep ivsrealtime.Endpoints) stageOut {
	return stageOut{ARN: st.ARN, Name: st.Name, ActiveSessionID: st.ActiveSessionID, Tags: nonNil(st.Tags),
		AutoParticipantRecordingConfiguration: st.AutoParticipantRecordingConfiguration, Endpoints: ep}
}

type stageOutput struct {
	Stage stageOut `json:"stage"`
}

type createStageOutput struct {
	Stage             stageOut                       `json:"stage"`
	ParticipantTokens []ivsrealtime.ParticipantToken `json:"participantTokens"`
}

func createStage(ctx context.Context, a *API, s *ivsrealtime.Service, c *call, in *ivsrealtime.CreateStageInput) (any, error) {
	ep := a.stageEndpoints(c.r)
	st, toks, err := s.CreateStage(ctx, *in, ep)
	if err != nil {
		return nil, err
	}
	if toks == nil {
		toks = []ivsrealtime.ParticipantToken{}
	}
	return createStageOutput{toStage(st, ep), toks}, nil
}

func getStage(ctx context.Context, a *API, s *ivsrealtime.Service, c *call, in *arnInput) (any, error) {
	st, err := s.GetStage(ctx, in.ARN)
	if err != nil {
		return nil, err
	}
	return stageOutput{toStage(st, a.stageEndpoints(c.r))}, nil
}

func updateStage(ctx context.Context, a *API, s *ivsrealtime.Service, c *call, in *ivsrealtime.UpdateStageInput) (any, error) {
	st, err := s.UpdateStage(ctx, *in)
	if err != nil {
		return nil, err
	}
	return stageOutput{toStage(st, a.stageEndpoints(c.r))}, nil
}

func deleteStage(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *arnInput) (any, error) {
	return struct{}{}, s.DeleteStage(ctx, in.ARN)
}

type stageSummary struct {
	ARN             string            `json:"arn"`
	Name            string            `json:"name"`
	ActiveSessionID string            `json:"activeSessionId,omitempty"`
	Tags            map[string]string `json:"tags"`
}

type listStagesOutput struct {
	Stages    []stageSummary `json:"stages"`
	NextToken string         `json:"nextToken,omitempty"`
}

func listStages(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.ListStagesInput) (any, error) {
	sts, next, err := s.ListStages(ctx, *in)
	if err != nil {
		return nil, err
	}
	out := listStagesOutput{Stages: make([]stageSummary, len(sts)), NextToken: next}
	for i, st := range sts {
		out.Stages[i] = stageSummary{st.ARN, st.Name, st.ActiveSessionID, nonNil(st.Tags)}
	}
	return out, nil
}

func createParticipantToken(ctx context.Context, a *API, s *ivsrealtime.Service, c *call, in *ivsrealtime.CreateParticipantTokenInput) (any, error) {
	t, err := s.CreateParticipantToken(ctx, *in, a.stageEndpoints(c.r))
	if err != nil {
		return nil, err
	}
	return struct {
		ParticipantToken ivsrealtime.ParticipantToken `json:"participantToken"`
	}{t}, nil
}

func disconnectParticipant(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.DisconnectParticipantInput) (any, error) {
	return struct{}{}, s.DisconnectParticipant(ctx, *in)
}

func getParticipant(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.GetParticipantInput) (any, error) {
	p, err := s.GetParticipant(ctx, *in)
	if err != nil {
		return nil, err
	}
	p.Attributes = nonNil(p.Attributes)
	return struct {
		Participant ivsrealtime.Participant `json:"participant"`
	}{p}, nil
}

type participantSummary struct {
	ParticipantID   string    `json:"participantId"`
	UserID          string    `json:"userId,omitempty"`
	State           string    `json:"state"`
	FirstJoinTime   time.Time `json:"firstJoinTime"`
	Published       bool      `json:"published"`
	RecordingState  string    `json:"recordingState"`
	ReplicationType string    `json:"replicationType"`
	// A SOURCE's or REPLICA's.
	ReplicationState string `json:"replicationState,omitempty"`
	SourceStageARN   string `json:"sourceStageArn,omitempty"`
	SourceSessionID  string `json:"sourceSessionId,omitempty"`
	// An encoder's (an ingest configuration's participant).
	RedundantIngest        bool   `json:"redundantIngest,omitempty"`
	IngestConfigurationARN string `json:"ingestConfigurationArn,omitempty"`
}

func listParticipants(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.ListParticipantsInput) (any, error) {
	ps, next, err := s.ListParticipants(ctx, *in)
	if err != nil {
		return nil, err
	}
	out := struct {
		Participants []participantSummary `json:"participants"`
		NextToken    string               `json:"nextToken,omitempty"`
	}{make([]participantSummary, len(ps)), next}
	for i, p := range ps {
		out.Participants[i] = participantSummary{ParticipantID: p.ParticipantID, UserID: p.UserID, State: p.State,
			FirstJoinTime: p.FirstJoinTime, Published: p.Published, RecordingState: p.RecordingState,
			ReplicationType: p.ReplicationType, ReplicationState: p.ReplicationState, SourceStageARN: p.SourceStageARN,
			SourceSessionID: p.SourceSessionID, RedundantIngest: p.RedundantIngest, IngestConfigurationARN: p.IngestConfigurationARN}
	}
	return out, nil
}

func listParticipantEvents(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.ListParticipantEventsInput) (any, error) {
	evs, next, err := s.ListParticipantEvents(ctx, *in)
	if err != nil {
		return nil, err
	}
	if evs == nil {
		evs = []ivsrealtime.Event{}
	}
	return struct {
		Events    []ivsrealtime.Event `json:"events"`
		NextToken string              `json:"nextToken,omitempty"`
	}{evs, next}, nil
}

type stageSessionInput struct {
	StageARN  string `json:"stageArn"`
	SessionID string `json:"sessionId"`
}

func getStageSession(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *stageSessionInput) (any, error) {
	ss, err := s.GetStageSession(ctx, in.StageARN, in.SessionID)
	if err != nil {
		return nil, err
	}
	return struct {
		StageSession ivsrealtime.StageSession `json:"stageSession"`
	}{ss}, nil
}

func listStageSessions(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.ListStageSessionsInput) (any, error) {
	ss, next, err := s.ListStageSessions(ctx, *in)
	if err != nil {
		return nil, err
	}
	if ss == nil {
		ss = []ivsrealtime.StageSession{}
	}
	return struct {
		StageSessions []ivsrealtime.StageSession `json:"stageSessions"`
		NextToken     string                     `json:"nextToken,omitempty"`
	}{ss, next}, nil
}

type publicKeyOut struct {
	ARN               string            `json:"arn"`
	Name              string            `json:"name"`
	PublicKeyMaterial string            `json:"publicKeyMaterial,omitempty"`
	Fingerprint       string            `json:"fingerprint,omitempty"`
	Tags              map[string]string `json:"tags"`
}

type publicKeyOutput struct {
	PublicKey publicKeyOut `json:"publicKey"`
}

func toPublicKey(k ivsrealtime.PublicKey) publicKeyOut {
	return publicKeyOut{k.ARN, k.Name, k.PublicKeyMaterial, k.Fingerprint, nonNil(k.Tags)}
}

func importPublicKey(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.ImportPublicKeyInput) (any, error) {
	k, err := s.ImportPublicKey(ctx, *in)
	if err != nil {
		return nil, err
	}
	return publicKeyOutput{toPublicKey(k)}, nil
}

func getPublicKey(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *arnInput) (any, error) {
	k, err := s.GetPublicKey(ctx, in.ARN)
	if err != nil {
		return nil, err
	}
	return publicKeyOutput{toPublicKey(k)}, nil
}

func deletePublicKey(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *arnInput) (any, error) {
	return struct{}{}, s.DeletePublicKey(ctx, in.ARN)
}

func listPublicKeys(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.ListPublicKeysInput) (any, error) {
	ks, next, err := s.ListPublicKeys(ctx, *in)
	if err != nil {
		return nil, err
	}
	out := struct {
		PublicKeys []publicKeyOut `json:"publicKeys"`
		NextToken  string         `json:"nextToken,omitempty"`
	}{make([]publicKeyOut, len(ks)), next}
	for i, k := range ks {
		out.PublicKeys[i] = publicKeyOut{ARN: k.ARN, Name: k.Name, Tags: nonNil(k.Tags)}
	}
	return out, nil
}

type encoderOut struct {
	ARN   string             `json:"arn"`
	Name  string             `json:"name"`
	Video *ivsrealtime.Video `json:"video,omitempty"`
	Tags  map[string]string  `json:"tags"`
}

type encoderOutput struct {
	EncoderConfiguration encoderOut `json:"encoderConfiguration"`
}

func toEncoder(e ivsrealtime.EncoderConfiguration) encoderOut {
	return encoderOut{e.ARN, e.Name, &e.Video, nonNil(e.Tags)}
}

func createEncoderConfiguration(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.CreateEncoderConfigurationInput) (any, error) {
	e, err := s.CreateEncoderConfiguration(ctx, *in)
	if err != nil {
		return nil, err
	}
	return encoderOutput{toEncoder(e)}, nil
}

func getEncoderConfiguration(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *arnInput) (any, error) {
	e, err := s.GetEncoderConfiguration(ctx, in.ARN)
	if err != nil {
		return nil, err
	}
	return encoderOutput{toEncoder(e)}, nil
}

func deleteEncoderConfiguration(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *arnInput) (any, error) {
	return struct{}{}, s.DeleteEncoderConfiguration(ctx, in.ARN)
}

func listEncoderConfigurations(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.ListInput) (any, error) {
	es, next, err := s.ListEncoderConfigurations(ctx, *in)
	if err != nil {
		return nil, err
	}
	out := struct {
		EncoderConfigurations []encoderOut `json:"encoderConfigurations"`
		NextToken             string       `json:"nextToken,omitempty"`
	}{make([]encoderOut, len(es)), next}
	for i, e := range es {
		out.EncoderConfigurations[i] = encoderOut{ARN: e.ARN, Name: e.Name, Tags: nonNil(e.Tags)}
	}
	return out, nil
}

type storageOut struct {
	ARN  string                `json:"arn"`
	Name string                `json:"name"`
	S3   ivsrealtime.S3Storage `json:"s3"`
	Tags map[string]string     `json:"tags"`
}

type storageOutput struct {
	StorageConfiguration storageOut `json:"storageConfiguration"`
}

func toStorage(c ivsrealtime.StorageConfiguration) storageOut {
	return storageOut{c.ARN, c.Name, c.S3, nonNil(c.Tags)}
}

func createStorageConfiguration(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.CreateStorageConfigurationInput) (any, error) {
	c, err := s.CreateStorageConfiguration(ctx, *in)
	if err != nil {
		return nil, err
	}
	return storageOutput{toStorage(c)}, nil
}

func getStorageConfiguration(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *arnInput) (any, error) {
	c, err := s.GetStorageConfiguration(ctx, in.ARN)
	if err != nil {
		return nil, err
	}
	return storageOutput{toStorage(c)}, nil
}

func deleteStorageConfiguration(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *arnInput) (any, error) {
	return struct{}{}, s.DeleteStorageConfiguration(ctx, in.ARN)
}

func listStorageConfigurations(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.ListInput) (any, error) {
	cs, next, err := s.ListStorageConfigurations(ctx, *in)
	if err != nil {
		return nil, err
	}
	out := struct {
		StorageConfigurations []storageOut `json:"storageConfigurations"`
		NextToken             string       `json:"nextToken,omitempty"`
	}{make([]storageOut, len(cs)), next}
	for i, c := range cs {
		out.StorageConfigurations[i] = toStorage(c)
	}
	return out, nil
}

func startParticipantReplication(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.StartParticipantReplicationInput) (any, error) {
	return struct{}{}, s.StartParticipantReplication(ctx, *in)
}

func stopParticipantReplication(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.StopParticipantReplicationInput) (any, error) {
	return struct{}{}, s.StopParticipantReplication(ctx, *in)
}

func listParticipantReplicas(ctx context.Context, _ *API, s *ivsrealtime.Service, _ *call, in *ivsrealtime.ListParticipantReplicasInput) (any, error) {
	rs, next, err := s.ListParticipantReplicas(ctx, *in)
	if err != nil {
		return nil, err
	}
	if rs == nil {
		rs = []ivsrealtime.ParticipantReplica{}
	}
	return struct {
		Replicas  []ivsrealtime.ParticipantReplica `json:"replicas"`
		NextToken string                           `json:"nextToken,omitempty"`
	}{rs, next}, nil
}
