package chat_test

import (
	"testing"

	"github.com/onair-video/onair/internal/chat"
	"github.com/onair-video/onair/internal/ivs"
)

// Rendezvous homes: the same whatever the order of the nodes, spread
// evenly, and a node that joins takes rooms from the others without
// moving any between them; one that leaves gives up only its own.
func TestHome(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		nodes []string
		want  string
	}{
		{nil, ""},
		{[]string{}, ""},
		{[]string{"only"}, "only"},
	} {
		if got := chat.Home("room", tc.nodes); got != tc.want {
			t.Errorf("Home over %v = %q, want %q", tc.nodes, got, tc.want)
		}
	}
	three := []string{"n1", "n2", "n3"}
	four := []string{"n4", "n3", "n2", "n1"}
	const rooms = 3000
	count := map[string]int{}
	moved := 0
	for range rooms {
		id := ivs.NewResourceID()
		h := chat.Home(id, three)
		if h2 := chat.Home(id, []string{"n3", "n1", "n2"}); h2 != h {
			t.Fatalf("room %s: home %s or %s by the nodes' order", id, h, h2)
		}
		count[h]++
		if h4 := chat.Home(id, four); h4 != h {
			if h4 != "n4" {
				t.Fatalf("room %s moved from %s to %s when n4 joined", id, h, h4)
			}
			moved++
		}
		if h != "n2" {
			if h1 := chat.Home(id, []string{"n1", "n3"}); h1 != h {
				t.Fatalf("room %s moved from %s to %s when n2 left", id, h, h1)
			}
		}
	}
	for _, n := range three {
		if count[n] < rooms/3*8/10 || count[n] > rooms/3*12/10 {
			t.Errorf("homes %v: not even within 20%%", count)
		}
	}
	if moved < rooms/4*7/10 || moved > rooms/4*13/10 {
		t.Errorf("%d of %d rooms moved to a fourth node, want about a quarter", moved, rooms)
	}
}
