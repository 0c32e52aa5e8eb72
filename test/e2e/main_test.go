// Package e2e tests onair end to end: the real binary, driven by the real
// clients (aws-sdk-go-v2, the aws CLI, ffmpeg, an HLS reader).
package e2e

import (
	"testing"

	"github.com/onair-video/onair/test/e2e/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
