package ivs

import "slices"

// ListStreamsInput is the input of ListStreams.
type ListStreamsInput struct {
	FilterBy   StreamFilters `json:"filterBy"`
	NextToken  string        `json:"nextToken"`
	MaxResults *int32        `json:"maxResults"`
}

// StreamFilters narrows ListStreams.
type StreamFilters struct {
	Health string `json:"health"`
}

// ListStreams pages through live streams. The streams themselves are held by
// the live registry, not the store, so the caller passes them in; they need
// not be sorted.
func ListStreams(in ListStreamsInput, all []StreamSummary) ([]StreamSummary, string, error) {
	n, err := ValidatePage(in.NextToken, in.MaxResults, 1, 100, 100)
	if err != nil {
		return nil, "", err
	}
	switch in.FilterBy.Health {
	case "", HealthHealthy, HealthStarving, HealthUnknown:
	default:
		return nil, "", Validation("filterBy.health", "filterBy.health must be one of HEALTHY, STARVING or UNKNOWN")
	}
	after, err := DecodeToken(in.NextToken)
	if err != nil {
		return nil, "", err
	}
	slices.SortFunc(all, func(a, b StreamSummary) int {
		switch {
		case a.ChannelARN < b.ChannelARN:
			return -1
		case a.ChannelARN > b.ChannelARN:
			return 1
		}
		return 0
	})
	out := make([]StreamSummary, 0, min(n, len(all)))
	next := ""
	for _, s := range all {
		if s.ChannelARN <= after || (in.FilterBy.Health != "" && s.Health != in.FilterBy.Health) {
			continue
		}
		if len(out) == n {
			next = encodeToken(out[n-1].ChannelARN)
			break
		}
		out = append(out, s)
	}
	return out, next, nil
}
