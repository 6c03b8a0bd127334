package msg

import (
	"fmt"

	"github.com/gousp/gousp/proto/uspmsg"
	"google.golang.org/protobuf/encoding/protojson"
)

// JSON renders m as compact protojson with the .proto field names
// ("msg_id", "req_path_results"), for logs. Fields at their zero value are
// left out, so an Error message shows no msg_type. protojson does not
// promise stable spacing: do not compare the output byte-wise.
func JSON(m *uspmsg.Msg) ([]byte, error) {
	return protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
}

// JSONIndent renders m like [JSON] but over several lines indented by two
// spaces, for people reading the CLI's output.
func JSONIndent(m *uspmsg.Msg) ([]byte, error) {
	return protojson.MarshalOptions{UseProtoNames: true, Multiline: true, Indent: "  "}.Marshal(m)
}

// FromJSON reads a usp.Msg written as protojson (either field naming) and
// validates it, so that messages can be written by hand for the CLI.
func FromJSON(b []byte) (*uspmsg.Msg, error) {
	m := &uspmsg.Msg{}
	if err := protojson.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if err := Validate(m); err != nil {
		return m, err
	}
	return m, nil
}
