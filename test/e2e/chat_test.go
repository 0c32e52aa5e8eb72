package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/onair-video/onair/test/e2e/harness"
)

// The aws CLI drives IVS Chat's control plane against the real binary with
// the data dir's credentials: a logging configuration, a room that uses
// it, list, tags, update, the in-use conflict, delete.
func TestChatWithAWSCLI(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	cli := newCLI(t, s)
	var lc struct{ Arn, Id, State string }
	if err := json.Unmarshal(cli.run("ivschat", "create-logging-configuration", "--name", "log",
		"--destination-configuration", `{"s3":{"bucketName":"chat-logs"}}`), &lc); err != nil || lc.State != "ACTIVE" {
		t.Fatalf("create-logging-configuration: %+v, %v", lc, err)
	}
	var room struct {
		Arn                             string
		MaximumMessageLength            int
		LoggingConfigurationIdentifiers []string
	}
	if err := json.Unmarshal(cli.run("ivschat", "create-room", "--name", "lobby", "--maximum-message-length", "200",
		"--logging-configuration-identifiers", lc.Arn, "--tags", "team=a"), &room); err != nil ||
		room.MaximumMessageLength != 200 || len(room.LoggingConfigurationIdentifiers) != 1 {
		t.Fatalf("create-room: %+v, %v", room, err)
	}
	if out := cli.run("ivschat", "list-rooms", "--name", "lobby"); !strings.Contains(string(out), room.Arn) {
		t.Errorf("list-rooms:\n%s", out)
	}
	if out := cli.run("ivschat", "list-tags-for-resource", "--resource-arn", room.Arn); !strings.Contains(string(out), `"team": "a"`) {
		t.Errorf("list-tags-for-resource:\n%s", out)
	}
	if out := cli.run("ivschat", "update-room", "--identifier", room.Arn, "--maximum-message-rate-per-second", "3"); !strings.Contains(string(out), `"maximumMessageRatePerSecond": 3`) {
		t.Errorf("update-room:\n%s", out)
	}
	cli.fail("ConflictException", "is used by room", "ivschat", "delete-logging-configuration", "--identifier", lc.Arn)
	cli.fail("ValidationException", "maximumMessageLength", "ivschat", "create-room", "--maximum-message-length", "501")
	cli.run("ivschat", "delete-room", "--identifier", room.Arn)
	cli.fail("ResourceNotFoundException", "not found", "ivschat", "get-room", "--identifier", room.Arn)
	cli.run("ivschat", "delete-logging-configuration", "--identifier", lc.Arn)
}
