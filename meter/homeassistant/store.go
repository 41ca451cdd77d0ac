package homeassistant

import (
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// resumeStore is paho's memory store, except that it keeps its own copy of
// each PUBLISH packet and hands out copies of it. After a reconnect paho's
// resume sets the DUP flag on each in-flight QoS 1 publish it Gets from the
// store and sends it again; with the memory store that is the very packet
// the previous connection's writer may still be encoding (and encoding
// writes its length into it): a data race inside paho v1.5.1
// (eclipse-paho/paho.mqtt.golang#703, open; TestBrokerRestart hit it about
// once in ten -race runs). The stored copy is made when Publish stores the
// packet, before any writer has it, and no writer ever gets the stored copy.
type resumeStore struct{ *paho.MemoryStore }

func newResumeStore() resumeStore { return resumeStore{paho.NewMemoryStore()} }

func (s resumeStore) Put(key string, m packets.ControlPacket) {
	s.MemoryStore.Put(key, copyPublish(m))
}

func (s resumeStore) Get(key string) packets.ControlPacket {
	return copyPublish(s.MemoryStore.Get(key))
}

// copyPublish returns a copy of m if it is a PUBLISH packet (its payload is
// shared: nothing writes it), else m.
func copyPublish(m packets.ControlPacket) packets.ControlPacket {
	if p, ok := m.(*packets.PublishPacket); ok {
		c := *p
		return &c
	}
	return m
}
