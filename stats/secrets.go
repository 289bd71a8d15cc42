package stats

import (
	"strings"

	"github.com/querylens/querylens/fingerprint"
)

// secretWords mark statements whose literals may be credentials or keys:
// CREATE/ALTER USER ... IDENTIFIED BY, SET PASSWORD, GRANT ... IDENTIFIED
// BY, CHANGE MASTER TO MASTER_PASSWORD, AES_ENCRYPT(x, key), writes to
// mysql.user's authentication_string. Their raw text is never kept or
// logged, not even with LogLiterals.
var secretWords = []string{"identified", "password", "aes_", "des_", "encrypt", "authentication_string"}

// mayHoldSecret reports whether a statement of this kind and text may
// carry a credential in its literals.
func mayHoldSecret(kind, sql string) bool {
	if kind == fingerprint.KindUser || kind == fingerprint.KindGrant {
		return true
	}
	for i := 0; i < len(sql); i++ {
		c := sql[i] | 0x20
		for _, w := range secretWords {
			if c == w[0] && len(sql)-i >= len(w) && strings.EqualFold(sql[i:i+len(w)], w) {
				return true
			}
		}
	}
	return false
}
