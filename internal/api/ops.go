package api

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// operation is one IVS operation: its route, its success status and its
// handler, nil while onair does not serve it. The table is also the source
// of docs/api-compat.md.
type operation struct {
	Name    string
	method  string
	path    string
	status  int
	handler handlerFunc
	// planned says where an operation not served yet is planned.
	planned string
	// service is the SigV4 service it is signed for; "" for the tag
	// operations, which go by their resource ARN.
	service string
}

func post(name string, h handlerFunc) *operation {
	return &operation{Name: name, method: http.MethodPost, path: "/" + name, status: http.StatusOK, handler: h, service: signingName}
}

// chat is post for an IVS Chat operation.
func chat(name string, h handlerFunc) *operation {
	o := post(name, h)
	o.service = chatSigningName
	return o
}

func later(name, planned string) *operation {
	return &operation{Name: name, method: http.MethodPost, path: "/" + name, status: http.StatusOK, planned: planned}
}

func (o *operation) withStatus(s int) *operation { o.status = s; return o }

// tagOp marks a tag operation, served for both services.
func tagOp(o *operation) *operation { o.service = ""; return o }

func (o *operation) at(method, path string) *operation { o.method, o.path = method, path; return o }

// operations lists every operation of IVS (aws-sdk-go-v2/service/ivs
// v1.51.1), served or not.
func operations() []*operation {
	return []*operation{
		post("CreateChannel", typed(createChannel)),
		post("GetChannel", typed(getChannel)),
		post("UpdateChannel", typed(updateChannel)),
		post("DeleteChannel", typed(deleteChannel)).withStatus(http.StatusNoContent),
		post("ListChannels", typed(listChannels)),
		post("BatchGetChannel", typed(batchGetChannel)),

		post("CreateStreamKey", typed(createStreamKey)),
		post("GetStreamKey", typed(getStreamKey)),
		post("ListStreamKeys", typed(listStreamKeys)),
		post("DeleteStreamKey", typed(deleteStreamKey)).withStatus(http.StatusNoContent),
		post("BatchGetStreamKey", typed(batchGetStreamKey)),

		post("GetStream", typed(getStream)),
		post("ListStreams", typed(listStreams)),
		post("StopStream", typed(stopStream)),
		post("GetStreamSession", typed(getStreamSession)),
		post("ListStreamSessions", typed(listStreamSessions)),
		post("PutMetadata", typed(putMetadata)).withStatus(http.StatusNoContent),

		tagOp(post("ListTagsForResource", listTags).at(http.MethodGet, "/tags/{resourceArn}")),
		tagOp(post("TagResource", typed(tagResource)).at(http.MethodPost, "/tags/{resourceArn}")),
		tagOp(post("UntagResource", untagResource).at(http.MethodDelete, "/tags/{resourceArn}")),

		post("CreateRecordingConfiguration", typed(createRecordingConfiguration)),
		post("GetRecordingConfiguration", typed(getRecordingConfiguration)),
		post("ListRecordingConfigurations", typed(listRecordingConfigurations)),
		post("DeleteRecordingConfiguration", typed(deleteRecordingConfiguration)).withStatus(http.StatusNoContent),

		post("ImportPlaybackKeyPair", typed(importPlaybackKeyPair)),
		post("GetPlaybackKeyPair", typed(getPlaybackKeyPair)),
		post("ListPlaybackKeyPairs", typed(listPlaybackKeyPairs)),
		post("DeletePlaybackKeyPair", typed(deletePlaybackKeyPair)),
		post("StartViewerSessionRevocation", typed(startViewerSessionRevocation)),
		post("BatchStartViewerSessionRevocation", typed(batchStartViewerSessionRevocation)),

		post("CreatePlaybackRestrictionPolicy", typed(createPlaybackRestrictionPolicy)),
		post("GetPlaybackRestrictionPolicy", typed(getPlaybackRestrictionPolicy)),
		post("ListPlaybackRestrictionPolicies", typed(listPlaybackRestrictionPolicies)),
		post("UpdatePlaybackRestrictionPolicy", typed(updatePlaybackRestrictionPolicy)),
		post("DeletePlaybackRestrictionPolicy", typed(deletePlaybackRestrictionPolicy)).withStatus(http.StatusNoContent),

		later("CreateAdConfiguration", "not planned: needs AWS Elemental MediaTailor"),
		later("GetAdConfiguration", "not planned: needs AWS Elemental MediaTailor"),
		later("ListAdConfigurations", "not planned: needs AWS Elemental MediaTailor"),
		later("DeleteAdConfiguration", "not planned: needs AWS Elemental MediaTailor").withStatus(http.StatusNoContent),
		later("InsertAdBreak", "not planned: needs AWS Elemental MediaTailor"),
	}
}

// CompatTable renders docs/api-compat.md from the operation tables.
func CompatTable() string {
	var b strings.Builder
	b.WriteString("# IVS API compatibility\n\n")
	b.WriteString("<!-- Generated from internal/api/ops.go by `go test ./internal/api -run TestCompatDoc -update`; do not edit. -->\n\n")
	ops := operations()
	fmt.Fprintf(&b, "onair serves %d of the %d operations of Amazon IVS (aws-sdk-go-v2/service/ivs v1.51.1) on the wire,\n", served(ops), len(ops))
	b.WriteString("SigV4-signed, with IVS's JSON shapes and error shapes. Every served operation is tested with the Go SDK\n")
	b.WriteString("(internal/api, test/e2e), success and each error; the aws CLI drives a channel's life in test/e2e. An operation not served yet answers\n")
	b.WriteString("ValidationException naming this page.\n\n")
	opTable(&b, ops)
	b.WriteString("\nDepartures from IVS on served operations:\n\n")
	b.WriteString("- `ingestEndpoint` carries `:port` when the RTMPS port is not 443, so `rtmps://{ingestEndpoint}/app/{key}` works as written.\n")
	b.WriteString("- `viewerCount` counts HLS players (by playback session, docs/viewers.md) and WebRTC (WHEP) viewers.\n")
	b.WriteString("- `srt.endpoint` is empty when the SRT listener is off (`--srt-addr off`).\n")
	b.WriteString("- `playbackRestrictionPolicyArn` and `adConfigurationArn` can only be empty until those resources are served: any other value is ResourceNotFoundException.\n")
	b.WriteString("- Recordings go to S3 (`--s3-endpoint`) or, by default, to bucket directories under the data dir, in IVS's layout (docs/recording.md); the byte-range playlists are not written.\n")
	b.WriteString("- STANDARD channels play as an ABR ladder made by ffmpeg (docs/transcoding.md); without ffmpeg, as their source.\n")
	b.WriteString("- Every request must be signed with the one admin key pair of the installation (data dir `credentials`); there is no IAM.\n")

	chatOps := chatOperations()
	b.WriteString("\n## IVS Chat\n\n")
	fmt.Fprintf(&b, "onair serves %d of the %d operations of Amazon IVS Chat (aws-sdk-go-v2/service/ivschat v1.22.2): those marked\n", served(chatOps)+3, len(chatOps)+3)
	b.WriteString("served below, and the three tag operations, which share the paths above and go by the resource ARN's service.\n")
	b.WriteString("They are signed for the service `ivschat` and answer IVS Chat's error shapes (resourceId, resourceType, limit; a\n")
	b.WriteString("ValidationException's reason and fieldList). Tested with the Go SDK (internal/api) and the aws CLI (test/e2e).\n\n")
	opTable(&b, chatOps)
	b.WriteString("\nDepartures from IVS Chat on served operations:\n\n")
	b.WriteString("- `messageReviewHandler.uri` is the http(s) URL of a handler that takes Lambda's request and answers its response; a Lambda ARN is a ValidationException.\n")
	b.WriteString("- Logging configurations take an `s3` destination only (a bucket in the S3 store recordings use, or a directory in the data dir); `cloudWatchLogs` and `firehose` are ValidationExceptions.\n")

	rtOps := realtimeOperations()
	b.WriteString("\n## IVS Real-Time (Stages)\n\n")
	fmt.Fprintf(&b, "onair serves %d of the %d operations of Amazon IVS Real-Time Streaming (@aws-sdk/client-ivs-realtime 3.1058.0,\n", served(rtOps)+3, len(rtOps)+3)
	b.WriteString("botocore 1.43.11): those marked served below, and the three tag operations, which share the paths above and go by the\n")
	b.WriteString("resource ARN's type (stage, public-key, encoder-configuration, storage-configuration, ingest-configuration, composition). They are signed for the service\n")
	b.WriteString("`ivs`, as IVS's own, and answer every success with 200. They are tested with the Go SDK's `service/ivsrealtime`\n")
	b.WriteString("v1.30.0 (the newest the module proxy onair builds with serves; test/e2e), the aws CLI (`aws ivs-realtime`) and\n")
	b.WriteString("@aws-sdk/client-ivs-realtime under node:test (web/e2e/ivsrealtime.mjs), success and each error. docs/stages.md\n")
	b.WriteString("describes stages, participant tokens, the endpoints and encoders in a stage (ingest configurations).\n\n")
	opTable(&b, rtOps)
	b.WriteString("\nDepartures from IVS Real-Time on served operations:\n\n")
	b.WriteString("- `endpoints` are onair's own URLs (docs/stages.md): `events` and `whip` on the HTTPS listener, `rtmp` and `rtmps` on the RTMP listeners (empty when one is off).\n")
	b.WriteString("- Ingest configurations: an encoder's stream key publishes over SRT too, its participant's `protocol` then `SRT` (IVS's ParticipantProtocol has none); " +
		"`redundantIngest` adds one backup credential; a refusal before the encoder joined is recorded as a visit of its participant (`JOINED`, `PUBLISH_ERROR`, `LEFT`); " +
		"at most 100 configurations per account (IVS publishes no quota). docs/stages.md lists the refusals.\n")
	b.WriteString("- `autoParticipantRecordingConfiguration` records each publisher to the storage configuration's bucket in the storage onair records to " +
		"(docs/recording.md, \"Stage participants\").\n")
	b.WriteString("- Participant tokens are JWTs signed ES384 by onair (IVS signs with KMS); self-signed ES384 tokens of imported public keys are accepted.\n")
	b.WriteString("- DisconnectParticipant answers ResourceNotFoundException for a participant that is not connected to the stage's active session, and revokes the token of one that is. " +
		"A participant that has just joined (it has its `STAGE_STATE`) counts as connected even before onair has recorded its join: it is disconnected, and its join and leave are recorded after.\n")
	b.WriteString("- A stage session ends when its last participant leaves.\n")
	b.WriteString("- A participant's `ispName` is always empty (onair has no ISP database); `browserName`, `osName` and their versions are read from the client's User-Agent " +
		"(docs/stages.md lists which), `sdkVersion` from the SDK's `X-Stages-SDK`, so a client that sends neither has them empty.\n")
	b.WriteString("- Compositions (docs/compositions.md): a layout with both `grid` and `pip` is a ValidationException. " +
		"An `s3` destination records HLS under `<stage id>/<composition id>/<destination id>/composite` (its `detail.s3.recordingPrefix`). " +
		"A stopped or failed composition stays readable for 5 minutes, then GetComposition answers ResourceNotFoundException. " +
		"Compositions that ran when the server stopped run again when it starts (an `s3` destination's recording does not: it is FAILED). " +
		"The tag operations take composition ARNs too.\n")
	return b.String()
}

func served(ops []*operation) int {
	n := 0
	for _, o := range ops {
		if o.handler != nil {
			n++
		}
	}
	return n
}

// opTable writes the table of ops, by name.
func opTable(b *strings.Builder, ops []*operation) {
	sort.Slice(ops, func(i, j int) bool { return ops[i].Name < ops[j].Name })
	b.WriteString("| Operation | HTTP | State |\n|---|---|---|\n")
	for _, o := range ops {
		state := "served"
		if o.handler == nil {
			state = "not yet: " + o.planned
			if strings.HasPrefix(o.planned, "not planned") {
				state = o.planned
			}
		}
		fmt.Fprintf(b, "| %s | `%s %s` | %s |\n", o.Name, o.method, o.path, state)
	}
}
