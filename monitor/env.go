package monitor

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix prefixes every configuration environment variable. Every
// variable with this prefix must be a configuration key or one of
// EnvAllowed: an unknown one is an error, as an unknown YAML key is.
const EnvPrefix = "DRIFTWATCH_"

// EnvAllowed lists the DRIFTWATCH_ variables that are not configuration and
// that LoadConfig therefore ignores: the ones scripts/clickhouse.sh, the
// Makefile and the Grafana provisioning read, which are often exported in the
// same shell as `driftwatch run`. Names starting with EnvTestPrefix are
// reserved for tests and ignored too, as are the variables the configuration
// names as the source of a secret (url_env, routing_key_env,
// bearer_token_env).
var EnvAllowed = []string{
	"DRIFTWATCH_RUN_DIR",                     // scripts/clickhouse.sh: run directory root
	"DRIFTWATCH_CLICKHOUSE_PORT",             // scripts/clickhouse.sh, Makefile: native port of the local server
	"DRIFTWATCH_CLICKHOUSE_HTTP_PORT",        // scripts/clickhouse.sh
	"DRIFTWATCH_CLICKHOUSE_INTERSERVER_PORT", // scripts/clickhouse.sh
	"DRIFTWATCH_CLICKHOUSE_START_TIMEOUT",    // scripts/clickhouse.sh
	"DRIFTWATCH_GRAFANA_CLICKHOUSE_PASSWORD", // dashboards/grafana provisioning, read by Grafana
}

// EnvTestPrefix prefixes the variables of tests (DRIFTWATCH_TEST_CLICKHOUSE,
// exported by the Makefile, and the secrets of the alerting tests); no
// configuration section is named "test".
const EnvTestPrefix = EnvPrefix + "TEST_"

// applyEnv overrides fields of c from env. Variables are named after the YAML
// path of a scalar or list-of-scalars field: kafka.brokers is
// DRIFTWATCH_KAFKA_BROKERS, analysis.thresholds.psi.warning is
// DRIFTWATCH_ANALYSIS_THRESHOLDS_PSI_WARNING. A DRIFTWATCH_ variable that
// names no key and is not allowed (EnvAllowed, EnvTestPrefix, a secret's
// variable named in c) is an error naming it, with the closest key.
func applyEnv(c *Config, env []string) error {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, EnvPrefix) {
			vars[k] = v
		}
	}
	if len(vars) == 0 {
		return nil
	}
	known := EnvKeys()
	allowed := append(slices.Clone(EnvAllowed), c.secretEnvNames()...)
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		if slices.Contains(known, k) || slices.Contains(allowed, k) || strings.HasPrefix(k, EnvTestPrefix) {
			continue
		}
		msg := fmt.Sprintf("environment %s: unknown configuration key", k)
		if near := closest(k, known); near != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", near)
		}
		errs = append(errs, errors.New(msg))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return eachEnvField(reflect.ValueOf(c).Elem(), envRoot, func(path string, fv reflect.Value) error {
		raw, ok := vars[path]
		if !ok {
			return nil
		}
		if err := setScalar(fv, raw); err != nil {
			return fmt.Errorf("environment %s=%q: %w", path, raw, err)
		}
		return nil
	})
}

// envRoot is EnvPrefix without its trailing underscore.
var envRoot = strings.TrimSuffix(EnvPrefix, "_")

// EnvKeys returns the name of every configuration environment variable, in
// the order of the fields of Config.
func EnvKeys() []string {
	var keys []string
	_ = eachEnvField(reflect.ValueOf(&Config{}).Elem(), envRoot, func(path string, _ reflect.Value) error {
		keys = append(keys, path)
		return nil
	})
	return keys
}

// secretEnvNames returns the environment variables that c names as the
// source of a receiver's secret.
func (c *Config) secretEnvNames() []string {
	var names []string
	for _, r := range c.Alerting.Slack {
		names = append(names, r.URLEnv)
	}
	for _, r := range c.Alerting.PagerDuty {
		names = append(names, r.RoutingKeyEnv)
	}
	for _, r := range c.Alerting.Webhook {
		names = append(names, r.BearerTokenEnv, r.URLEnv)
	}
	return slices.DeleteFunc(names, func(n string) bool { return n == "" })
}

var durationType = reflect.TypeOf(time.Duration(0))

// eachEnvField calls fn with the variable name and value of every field of
// the struct v that is not a struct itself (durations are not structs),
// descending into nested structs; inline structs add no name.
func eachEnvField(v reflect.Value, prefix string, fn func(path string, fv reflect.Value) error) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := strings.Split(f.Tag.Get("yaml"), ",")
		name := tag[0]
		fv := v.Field(i)
		inline := len(tag) > 1 && tag[1] == "inline"
		if name == "-" {
			continue
		}
		path := prefix
		if !inline {
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			path = prefix + "_" + strings.ToUpper(name)
		}
		if fv.Kind() == reflect.Struct && f.Type != durationType {
			if err := eachEnvField(fv, path, fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(path, fv); err != nil {
			return err
		}
	}
	return nil
}

// closest returns the key of known nearest to name, or "" when none is
// near: one that extends name, or else one within a few edits.
func closest(name string, known []string) string {
	best, bestD := "", len(name)/3+1
	for _, k := range known {
		if strings.HasPrefix(k, name+"_") {
			return k
		}
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func setScalar(fv reflect.Value, raw string) error {
	if fv.Type() == durationType {
		d, err := time.ParseDuration(raw)
		if err != nil {
			return err
		}
		fv.SetInt(int64(d))
		return nil
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return err
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return err
		}
		fv.SetInt(n)
	case reflect.Uint, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(raw, 10, 64)
		if err != nil {
			return err
		}
		fv.SetUint(n)
	case reflect.Float64, reflect.Float32:
		x, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return err
		}
		fv.SetFloat(x)
	case reflect.Slice:
		if fv.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("lists of %s cannot be set from the environment; use the config file", fv.Type().Elem())
		}
		var parts []string
		for _, p := range strings.Split(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		fv.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("unsupported type %s", fv.Type())
	}
	return nil
}
