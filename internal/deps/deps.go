package deps
import (
 _ "github.com/segmentio/kafka-go"
 _ "github.com/twmb/franz-go/pkg/kfake"
 _ "github.com/ClickHouse/clickhouse-go/v2"
 _ "gonum.org/v1/gonum/stat"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "github.com/goccy/go-json"
 _ "go.yaml.in/yaml/v3"
)
