package pagetoken

import (
	"encoding/base64"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The prefix versions the token format.
const prefix = "v1:"

// String encodes a string cursor; "" stays "" (no more pages).
func String(cursor string) string {
	if cursor == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(prefix + cursor))
}

// Int encodes an integer cursor; 0 becomes "" (no more pages).
func Int(cursor int64) string {
	if cursor == 0 {
		return ""
	}
	return String(strconv.FormatInt(cursor, 10))
}

// ParseString decodes a token made by String; "" is the first page.
func ParseString(token string) (string, error) {
	if token == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || !strings.HasPrefix(string(raw), prefix) {
		return "", status.Error(codes.InvalidArgument, "invalid page_token")
	}
	return strings.TrimPrefix(string(raw), prefix), nil
}

// ParseInt decodes a token made by Int; "" is the first page (0).
func ParseInt(token string) (int64, error) {
	s, err := ParseString(token)
	if err != nil || s == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, status.Error(codes.InvalidArgument, "invalid page_token")
	}
	return n, nil
}

// Size returns the page size to use: def when requested is 0.
func Size(requested int32, def int) int {
	if requested <= 0 {
		return def
	}
	return int(requested)
}
