package stats

import (
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/querylens/querylens/fingerprint"
)

// Config configures an Engine. The zero value of each field means its
// default, so Config{} is valid; DefaultConfig spells the defaults out.
type Config struct {
	// MaxDigests bounds the number of (digest, schema) aggregates. Statements
	// of new keys beyond it are folded into one overflow aggregate (digest
	// "overflow", fingerprint "<other statements>") and counted. Default 5000.
	MaxDigests int

	// QueueSize is the capacity of the channel between Observe and the
	// writer goroutine. When it is full, Observe drops the event and counts
	// it. Default 65536.
	QueueSize int

	// RecycleEvents makes the writer give every event back for reuse
	// (protocol.ReleaseAll, in batches) once it is applied, for a producer whose
	// events come from protocol.Session and are observed once and kept by
	// no one (the proxy). A producer that observes one event twice, or reads
	// it afterwards, must leave it off.
	RecycleEvents bool

	// PublishInterval is how often the writer publishes a snapshot when
	// something changed. Default 250ms.
	PublishInterval time.Duration

	// Fingerprint configures the writer's fingerprinter.
	// Zero value: fingerprint.DefaultConfig().
	Fingerprint fingerprint.Config

	// LogLiterals keeps, per aggregate, the raw text of its slowest statement
	// (literals included, at most MaxRawSample bytes) in
	// DigestStats.SampleRaw. Off by default: samples then hold only the
	// normalized text, in which every literal is a '?'.
	LogLiterals bool

	// QueryLog, when set, receives one entry per statement chosen by
	// SlowThreshold and QueryLogSample (see querylog.go). It is written
	// from the writer goroutine, never from the relay.
	QueryLog *zap.Logger
	// SlowThreshold: statements that take at least this long are always
	// logged, flagged "slow". Zero means none counts as slow.
	SlowThreshold time.Duration
	// QueryLogSample is the fraction (0..1) of the other statements logged.
	QueryLogSample float64

	// Findings tunes the detection of wasteful patterns (finder.go).
	Findings FindingsConfig

	// Now returns the current time; it stamps snapshots and stands in for
	// event times that are unknown. Default time.Now.
	Now func() time.Time
}

// Defaults for Config fields.
const (
	DefaultMaxDigests      = 5000
	DefaultQueueSize       = 65536
	DefaultPublishInterval = 250 * time.Millisecond
)

// Per-aggregate bounds. What falls outside them is counted, not kept.
const (
	// MaxErrorCodes bounds DigestStats.ErrorsByCode; errors with further
	// codes are counted in DigestStats.ErrorsOtherCodes.
	MaxErrorCodes = 16
	// MaxUsers bounds DigestStats.Users (and Schemas of the overflow entry).
	MaxUsers = 16
	// MaxTags bounds DigestStats.Tags, the distinct sqlcommenter key/value
	// pairs seen.
	MaxTags = 16
	// MaxRawSample caps DigestStats.SampleRaw, in bytes.
	MaxRawSample = 4096
)

// DefaultConfig returns the configuration New uses for zero fields.
func DefaultConfig() Config {
	return Config{
		MaxDigests:      DefaultMaxDigests,
		QueueSize:       DefaultQueueSize,
		PublishInterval: DefaultPublishInterval,
		Fingerprint:     fingerprint.DefaultConfig(),
		Now:             time.Now,
	}
}

// withDefaults fills zero fields with their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxDigests == 0 {
		c.MaxDigests = d.MaxDigests
	}
	if c.QueueSize == 0 {
		c.QueueSize = d.QueueSize
	}
	if c.PublishInterval == 0 {
		c.PublishInterval = d.PublishInterval
	}
	if c.Fingerprint == (fingerprint.Config{}) {
		c.Fingerprint = d.Fingerprint
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	c.Findings = c.Findings.withDefaults()
	return c
}

// Validate reports every field that holds an invalid value. Zero values
// are valid: they mean the default.
func (c Config) Validate() error {
	var errs []error
	if c.MaxDigests < 0 {
		errs = append(errs, fmt.Errorf("MaxDigests: %d is negative", c.MaxDigests))
	}
	if c.QueueSize < 0 {
		errs = append(errs, fmt.Errorf("QueueSize: %d is negative", c.QueueSize))
	}
	if c.PublishInterval < 0 {
		errs = append(errs, fmt.Errorf("PublishInterval: %v is negative", c.PublishInterval))
	}
	if c.SlowThreshold < 0 {
		errs = append(errs, fmt.Errorf("SlowThreshold: %v is negative", c.SlowThreshold))
	}
	if c.QueryLogSample < 0 || c.QueryLogSample > 1 {
		errs = append(errs, fmt.Errorf("QueryLogSample: %v is not within 0..1", c.QueryLogSample))
	}
	if err := c.Fingerprint.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Fingerprint: %w", err))
	}
	if err := c.Findings.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("Findings: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stats config: %w", err)
	}
	return nil
}
