package scheduler

import (
	"fmt"
	"maps"
	"slices"
)

// ApplySettings applies BackendOptions.Settings for a backend factory: for each key, in
// sorted order, it calls the setter setters holds for that key with the value. It stops
// at the first key without a setter ("unknown setting") or whose setter fails, and
// returns an error naming the key (and the value) that wraps invalid, the caller's own
// sentinel (its ErrInvalidConfig), so each backend keeps its error contract. Setters
// already called have run; a factory discards its Config on error.
func ApplySettings(settings map[string]string, setters map[string]func(string) error, invalid error) error {
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		v := settings[k]
		set, ok := setters[k]
		if !ok {
			return fmt.Errorf("unknown setting %q: %w", k, invalid)
		}
		if err := set(v); err != nil {
			return fmt.Errorf("setting %s=%q: %v: %w", k, v, err, invalid)
		}
	}
	return nil
}

// SetString is the ApplySettings setter that stores the value in *p.
func SetString(p *string) func(string) error {
	return func(v string) error {
		*p = v
		return nil
	}
}

// SetParsed is the ApplySettings setter that stores parse(value) in *p, leaving *p as it
// was when parse fails: SetParsed(&cfg.KillGrace, time.ParseDuration).
func SetParsed[T any](p *T, parse func(string) (T, error)) func(string) error {
	return func(v string) error {
		x, err := parse(v)
		if err != nil {
			return err
		}
		*p = x
		return nil
	}
}
