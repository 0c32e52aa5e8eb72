package ivs_test

import (
	"context"
	"testing"

	"github.com/onair-video/onair/internal/ivs"
	"github.com/onair-video/onair/internal/store/sqlite"
)

// Revocations and the playback-session key outlive the process: a new
// service on the same store sees them; a revocation never narrows.
func TestRevocationsAndSecretsPersist(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	var heard []ivs.ViewerRevocation
	open := func() (*ivs.Service, func()) {
		st, err := sqlite.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		a, _, err := ivs.EnsureAccount(ctx, st, "", "")
		if err != nil {
			t.Fatal(err)
		}
		return serviceOn(st, a, ivs.Config{ViewerRevoked: func(r ivs.ViewerRevocation) { heard = append(heard, r) }}), func() { _ = st.Close() }
	}
	s, closeStore := open()
	c, _, err := s.CreateChannel(ctx, ivs.CreateChannelInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []int64{5, 2} {
		if err := s.StartViewerSessionRevocation(ctx, ivs.ViewerSessionInput{ChannelARN: c.ARN, ViewerID: "amy", VersionsLessThanOrEqualTo: ptr(v)}); err != nil {
			t.Fatal(err)
		}
	}
	if len(heard) != 2 || heard[1].Version != 5 {
		t.Fatalf("heard %+v; a later, lower revocation must keep 5", heard)
	}
	key, err := s.PlaybackSessionSecret(ctx)
	if err != nil || len(key) != 32 {
		t.Fatalf("secret: %d bytes, %v", len(key), err)
	}
	closeStore()

	s2, closeStore2 := open()
	defer closeStore2()
	for v, want := range map[int64]bool{4: true, 5: true, 6: false} {
		if got, err := s2.ViewerRevoked(ctx, c.ID, "amy", v); err != nil || got != want {
			t.Errorf("version %d after restart: revoked=%v (%v), want %v", v, got, err, want)
		}
	}
	if got, _ := s2.ViewerRevoked(ctx, c.ID, "bob", 0); got {
		t.Error("another viewer revoked")
	}
	key2, err := s2.PlaybackSessionSecret(ctx)
	if err != nil || string(key2) != string(key) {
		t.Fatalf("the session key changed across a restart: %v", err)
	}
}
