package ivs

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// UsageReport is the use of the account over one calendar month (UTC).
type UsageReport struct {
	Month    string        `json:"month"` // "2026-11"
	From     time.Time     `json:"from"`
	To       time.Time     `json:"to"`
	Channels []ChannelUsed `json:"channels"`
	Total    UsageTotals   `json:"total"`
	Quota    *InputQuota   `json:"inputQuota,omitempty"`
}

// ChannelUsed is one channel's line in a usage report.
type ChannelUsed struct {
	ChannelARN string `json:"channelArn"`
	UsageTotals
}

// UsageTotals are input and viewer hours.
type UsageTotals struct {
	InputHours  float64 `json:"inputHours"`
	ViewerHours float64 `json:"viewerHours"`
}

// InputQuota is the monthly input-hours quota and what is left of it.
type InputQuota struct {
	Hours          float64 `json:"hours"`
	RemainingHours float64 `json:"remainingHours"`
}

// ParseMonth parses "YYYY-MM"; empty is the current month.
func (s *Service) ParseMonth(field, v string) (time.Time, error) {
	if v == "" {
		now := s.now().UTC()
		return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC), nil
	}
	m, err := time.Parse("2006-01", v)
	if err != nil {
		return time.Time{}, Validation(field, "%s must be a month as YYYY-MM", field)
	}
	return m, nil
}

// Usage reports the input and viewer hours of every channel in the month
// that begins at month.
func (s *Service) Usage(ctx context.Context, month time.Time) (UsageReport, error) {
	from := month.UTC()
	to := from.AddDate(0, 1, 0)
	used, err := s.st.Usage.Usage(ctx, from, to, s.now())
	if err != nil {
		return UsageReport{}, fmt.Errorf("ivs: usage: %w", err)
	}
	r := UsageReport{Month: from.Format("2006-01"), From: from, To: to, Channels: []ChannelUsed{}}
	for _, u := range used {
		c := ChannelUsed{ChannelARN: s.arn(ResourceChannel, u.ChannelID),
			UsageTotals: UsageTotals{InputHours: u.InputSeconds / 3600, ViewerHours: u.ViewerSeconds / 3600}}
		r.Channels = append(r.Channels, c)
		r.Total.InputHours += c.InputHours
		r.Total.ViewerHours += c.ViewerHours
	}
	sort.Slice(r.Channels, func(i, j int) bool { return r.Channels[i].ChannelARN < r.Channels[j].ChannelARN })
	if s.inputQuota > 0 {
		r.Quota = &InputQuota{Hours: s.inputQuota, RemainingHours: max(0, s.inputQuota-r.Total.InputHours)}
	}
	return r, nil
}

// CheckInputQuota refuses a new publish once the month's input hours reach
// the quota, with a reason an encoder's operator can act on.
func (s *Service) CheckInputQuota(ctx context.Context) error {
	if s.inputQuota <= 0 {
		return nil
	}
	now := s.now().UTC()
	r, err := s.Usage(ctx, time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		return err
	}
	if r.Total.InputHours >= s.inputQuota {
		return &Error{Code: CodeServiceQuotaExceeded, Message: fmt.Sprintf(
			"the monthly input quota of %g hours is used up (%.2f hours in %s); publishing resumes next month or when the quota is raised",
			s.inputQuota, r.Total.InputHours, r.Month)}
	}
	return nil
}
