package graph

import (
	"context"
	"fmt"
	"strings"
)

// Password policies (docs/contracts.md §8.2).
const (
	PolicyDisablePasswordExpiration = "DisablePasswordExpiration"
	PolicyDisableStrongPassword     = "DisableStrongPassword"
)

// PasswordPolicies returns the passwordPolicies value of a migrated local account: password expiration disabled,
// and the strength rule relaxed when disableStrong.
func PasswordPolicies(disableStrong bool) string {
	if disableStrong {
		return PolicyDisablePasswordExpiration + ", " + PolicyDisableStrongPassword
	}
	return PolicyDisablePasswordExpiration
}

// MigratedPasswordPatch is the one PATCH body that sets a harvested password and clears the migration flag
// together, so that no failure can leave the flag cleared and the password unset: passwordProfile (with
// forceChangePasswordNextSignIn false), passwordPolicies and flagAttribute (the full extension name) false.
func MigratedPasswordPatch(password string, disableStrong bool, flagAttribute string) map[string]any {
	return map[string]any{
		"passwordProfile":  PasswordProfile{Password: password, ForceChangePasswordNextSignIn: false},
		"passwordPolicies": PasswordPolicies(disableStrong),
		flagAttribute:      false,
	}
}

// UserDirectory is what Harvester needs of a Client or a Pool.
type UserDirectory interface {
	FindUsersByIdentity(ctx context.Context, issuer, issuerAssignedID string, sel []string) ([]User, error)
	UpdateUser(ctx context.Context, id string, patch map[string]any) error
}

// Harvester finds External ID accounts by sign-in name and writes harvested passwords to them. It needs
// User.Read.All and User-PasswordProfile.ReadWrite.All with the User Administrator role (docs/contracts.md §10);
// give it an app registration of its own so it does not share the import's write budget.
type Harvester struct {
	// Directory is the Graph client (or pool). Required.
	Directory UserDirectory
	// Domain is the issuer of local identities (the tenant's domain); Graph ignores its value but requires one.
	Domain string
	// FlagAttribute is the migration flag's full extension name (extension_{appId}_{name}). Required.
	FlagAttribute string
	// DisableStrongPassword adds DisableStrongPassword to passwordPolicies.
	DisableStrongPassword bool
}

// FindUserByIdentity returns the id of the one account holding the local sign-in name, and whether its migration
// flag is set. No account matches ErrNotFound; several are a KindConflict error (the identity lookup ignores the
// issuer and cannot tell an email from a user name: the caller must compare the id with the one it recorded).
func (h *Harvester) FindUserByIdentity(ctx context.Context, name string) (id string, flagged bool, err error) {
	users, err := h.Directory.FindUsersByIdentity(ctx, h.Domain, name, []string{"id", h.FlagAttribute})
	if err != nil {
		return "", false, err
	}
	switch len(users) {
	case 0:
		return "", false, &Error{Op: "GET /v1.0/users", Kind: KindNotFound, Message: "no account holds the identity"}
	case 1:
	default:
		return "", false, &Error{Op: "GET /v1.0/users", Kind: KindConflict, Message: fmt.Sprintf("%d accounts hold the identity", len(users))}
	}
	v, _ := users[0].Extensions[h.FlagAttribute].(bool)
	return users[0].ID, v, nil
}

// SetMigratedPassword writes password to the account and clears its migration flag in one PATCH
// (MigratedPasswordPatch). A password the tenant refuses as too weak matches ErrPasswordComplexity and leaves the
// account as it was (flag set).
func (h *Harvester) SetMigratedPassword(ctx context.Context, id, password string) error {
	if strings.TrimSpace(h.FlagAttribute) == "" {
		return &Error{Op: "PATCH /v1.0/users", Kind: KindInvalid, Message: "no migration flag attribute"}
	}
	return h.Directory.UpdateUser(ctx, id, MigratedPasswordPatch(password, h.DisableStrongPassword, h.FlagAttribute))
}
