package taps

import "github.com/eclipse/paho.mqtt.golang/packets"

// noStore is a paho message store that keeps nothing. paho's default memory
// store keeps every QoS 1/2 packet in flight so a persistent session can resume
// it after a reconnect; the broker tap's session is clean, so the broker
// forgets its in-flight deliveries on a reconnect anyway, and storing each one
// would only cost the tap CPU on every message.
type noStore struct{}

func (noStore) Open()                             {}
func (noStore) Put(string, packets.ControlPacket) {}
func (noStore) Get(string) packets.ControlPacket  { return nil }
func (noStore) All() []string                     { return nil }
func (noStore) Del(string)                        {}
func (noStore) Close()                            {}
func (noStore) Reset()                            {}
