package homeassistant

import (
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// TestResumeStoreCopies: what a writer changes in the packet it was given
// after Put, or paho's resume in a packet it Gets (the DUP flag), is not seen
// by the store's copy.
func TestResumeStoreCopies(t *testing.T) {
	s := newResumeStore()
	s.Open()
	p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	p.Qos, p.MessageID, p.TopicName, p.Payload = 1, 7, "gridmesh/x", []byte("online")
	s.Put("o.7", p)
	p.RemainingLength = 99 // a writer encoding the packet it was given
	got, ok := s.Get("o.7").(*packets.PublishPacket)
	if !ok || got == p {
		t.Fatalf("Get returned %p (%T), the stored packet is %p; want a copy", got, got, p)
	}
	if got.RemainingLength == 99 {
		t.Errorf("Get returned the packet as a writer changed it after Put; want the store's own copy")
	}
	got.Dup = true
	if again := s.Get("o.7").(*packets.PublishPacket); again.Dup || again == got {
		t.Errorf("setting DUP on the packet Get returned set it on the stored one")
	}
	if got.MessageID != 7 || got.TopicName != "gridmesh/x" || string(got.Payload) != "online" {
		t.Errorf("Get = id %d topic %q payload %q; want 7, gridmesh/x, online", got.MessageID, got.TopicName, got.Payload)
	}
	sub := packets.NewControlPacket(packets.Subscribe).(*packets.SubscribePacket)
	sub.Qos, sub.MessageID = 1, 8
	s.Put("o.8", sub)
	if got := s.Get("o.8"); got != sub {
		t.Errorf("Get of a SUBSCRIBE = %p, want the stored %p (resume only reads it)", got, sub)
	}
}
