package flagenv

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
)

// KeyValues is a repeatable KEY=VALUE flag (labels, environment
// variables), collected into a map; nil until set.
type KeyValues map[string]string

func (kv *KeyValues) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(*kv)) {
		parts = append(parts, k+"="+(*kv)[k])
	}
	return strings.Join(parts, ",")
}

func (kv *KeyValues) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	if *kv == nil {
		*kv = make(KeyValues)
	}
	(*kv)[k] = val
	return nil
}

// Repeatable marks KeyValues for Apply.
func (kv *KeyValues) Repeatable() {}

// ByteSize is a size flag in bytes, with an optional K, M or G suffix
// (binary: 64M is 64 MiB; KB, KiB and the like are read the same).
type ByteSize int64

func (b *ByteSize) String() string {
	n := int64(*b)
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *ByteSize) Set(v string) error {
	s := strings.ToUpper(strings.TrimSpace(v))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "I")
	mult := int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			s = s[:n-1]
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return fmt.Errorf("size %q is not a positive number of bytes such as 67108864 or 64M", v)
	}
	*b = ByteSize(n * mult)
	return nil
}

// LoadToken returns the token given directly (--token), or else the one
// in file (--token-file), surrounding white space removed. Both empty is
// no token.
func LoadToken(token, file string) (string, error) {
	if token != "" && file != "" {
		return "", errors.New("give --token or --token-file, not both")
	}
	if file == "" {
		return token, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("token file %s is empty", file)
	}
	return t, nil
}
