package mqtt

import (
	"context"

	"github.com/gousp/gousp/mtp"
)

// Publication is what [Transport.Publish] sends that is not a USP record:
// a TR-369 bulk data report, for instance, whose Content Type names its
// encoding (annex "Bulk Data Collection", R-BULK.8a).
type Publication struct {
	// ContentType is the PUBLISH's Content Type property (MQTT 5 only;
	// an MQTT 3.1.1 PUBLISH has no properties).
	ContentType string
	// QoS is 0 or 1; 2 and above publish at 1, the most the transport
	// does.
	QoS byte
	// Retain asks the broker to keep the message for later subscribers.
	Retain bool
}

// outgoing is how one PUBLISH goes out: a USP record (usp) carries our
// Response Topic and, to a peer that asked for it, our reply-to suffix.
type outgoing struct {
	contentType string
	qos         byte
	retain      bool
	usp         bool
}

// Publish sends payload to topic over the current connection, as [Transport.Send]
// does a record but with p's Content Type, QoS and retain flag and no
// Response Topic. At QoS 1 it waits for the broker's PUBACK.
func (t *Transport) Publish(ctx context.Context, topic string, payload []byte, p Publication) error {
	return t.send(ctx, mtp.Address{MTP: Kind, To: topic}, payload, outgoing{contentType: p.ContentType, qos: min(p.QoS, 1), retain: p.Retain})
}
