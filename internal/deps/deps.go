// Package deps pins the project's chosen dependencies while packages that use them are written.
package deps

import (
	_ "github.com/Azure/azure-sdk-for-go/sdk/azcore"
	_ "github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	_ "github.com/go-jose/go-jose/v4"
	_ "github.com/go-ldap/ldap/v3"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/redis/go-redis/v9"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/crypto/argon2"
	_ "golang.org/x/crypto/bcrypt"
	_ "golang.org/x/crypto/pbkdf2"
	_ "golang.org/x/crypto/scrypt"
	_ "golang.org/x/net/http2"
	_ "golang.org/x/term"
	_ "modernc.org/sqlite"
)
