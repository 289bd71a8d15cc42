package demo

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestReadOnly(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1":                               true,
		"  select * from posts":                  true,
		"(SELECT 1) UNION (SELECT 2)":            true,
		"/* page */ SELECT 1":                    true,
		"-- note\nSHOW TABLES":                   true,
		"# note\r\ndescribe posts":               true,
		"EXPLAIN SELECT 1":                       true,
		"SELECTX":                                false,
		"INSERT INTO comments VALUES (1)":        false,
		"UPDATE posts SET comment_count = 1":     false,
		"COMMIT":                                 false,
		"SET autocommit = 0":                     false,
		"/* unterminated SELECT 1":               false,
		"-- only a comment":                      false,
		"":                                       false,
		"WITH c AS (SELECT 1) DELETE FROM posts": false,
	} {
		assert.Equal(t, want, readOnly(q), "%q", q)
	}
}
