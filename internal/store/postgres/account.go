package postgres

import (
	"context"
	"fmt"

	"github.com/onair-video/onair/internal/ivs"
)

var _ ivs.AccountStore = (*Store)(nil)

// Account implements ivs.AccountStore.
func (s *Store) Account(ctx context.Context) (ivs.Account, error) {
	var a ivs.Account
	var secret string
	err := s.pool.QueryRow(ctx, "SELECT account_id, access_key_id, secret FROM account WHERE id = 1").
		Scan(&a.ID, &a.AccessKeyID, &secret)
	if err != nil {
		return ivs.Account{}, notFound(err, "read account")
	}
	a.SecretAccessKey = ivs.Secret(secret)
	return a, nil
}

// PutAccount implements ivs.AccountStore.
func (s *Store) PutAccount(ctx context.Context, a ivs.Account) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO account (id, account_id, access_key_id, secret) VALUES (1, $1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET account_id = excluded.account_id, access_key_id = excluded.access_key_id, secret = excluded.secret`,
		a.ID, a.AccessKeyID, a.SecretAccessKey.Reveal())
	if err != nil {
		return fmt.Errorf("postgres: put account: %w", err)
	}
	return nil
}

// CreateAccount implements ivs.AccountStore. Processes that insert at once
// wait on the row's unique index for the first to commit; the others then
// insert nothing and read the first's account.
func (s *Store) CreateAccount(ctx context.Context, a ivs.Account) (ivs.Account, bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO account (id, account_id, access_key_id, secret) VALUES (1, $1, $2, $3)
		ON CONFLICT (id) DO NOTHING`, a.ID, a.AccessKeyID, a.SecretAccessKey.Reveal())
	if err != nil {
		return ivs.Account{}, false, fmt.Errorf("postgres: create account: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return a, true, nil
	}
	stored, err := s.Account(ctx)
	return stored, false, err
}
