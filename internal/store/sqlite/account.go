package sqlite

import (
	"context"
	"fmt"

	"github.com/onair-video/onair/internal/ivs"
)

// Account implements ivs.AccountStore.
func (s *Store) Account(ctx context.Context) (ivs.Account, error) {
	var a ivs.Account
	var secret string
	err := s.db.QueryRowContext(ctx, "SELECT account_id, access_key_id, secret FROM account WHERE id = 1").
		Scan(&a.ID, &a.AccessKeyID, &secret)
	if err != nil {
		return ivs.Account{}, notFound(err, "read account")
	}
	a.SecretAccessKey = ivs.Secret(secret)
	return a, nil
}

// PutAccount implements ivs.AccountStore.
func (s *Store) PutAccount(ctx context.Context, a ivs.Account) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO account (id, account_id, access_key_id, secret) VALUES (1, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET account_id = excluded.account_id, access_key_id = excluded.access_key_id, secret = excluded.secret`,
		a.ID, a.AccessKeyID, a.SecretAccessKey.Reveal())
	if err != nil {
		return fmt.Errorf("sqlite: put account: %w", err)
	}
	return nil
}

// CreateAccount implements ivs.AccountStore.
func (s *Store) CreateAccount(ctx context.Context, a ivs.Account) (ivs.Account, bool, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO account (id, account_id, access_key_id, secret) VALUES (1, ?, ?, ?)
		ON CONFLICT(id) DO NOTHING`, a.ID, a.AccessKeyID, a.SecretAccessKey.Reveal())
	if err != nil {
		return ivs.Account{}, false, fmt.Errorf("sqlite: create account: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return ivs.Account{}, false, fmt.Errorf("sqlite: create account: %w", err)
	}
	if n == 1 {
		return a, true, nil
	}
	stored, err := s.Account(ctx)
	return stored, false, err
}
