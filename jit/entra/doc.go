// Package entra is the wire layer of Entra External ID's OnPasswordSubmit custom authentication extension, the
// primary front door of the password-migration service (docs/contracts.md §1, docs/serve-security.md).
//
// The service side: an Authenticator checks a callout's bearer token (TokenValidator: RS256 against the JWKS of
// the tenant's external authority, iss, aud, azp) before reading its body, then decodes the body (CalloutRequest)
// and decrypts its encryptedPasswordContext (Decrypter: a JWE chosen by x5t among the configured KeyPairs) into a
// Callout; WriteResponse encodes the one action of the answer. Errors are *Error with a Kind that says how to
// answer: Unauthenticated (401, nothing else) or BadContext (200 with a non-migrating action). Passwords are held
// in a Secret, which never prints.
//
// The sender's side (issue.go: EncryptContext, UnsignedJWT, ParseResponse) is what Entra does, for the sandbox's
// sign-in simulator and for tests, so that both ends share one definition of the wire format.
package entra
