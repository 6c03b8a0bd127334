package main

import (
	"strings"
	"testing"

	"github.com/gousp/gousp/internal/brokertest"
)

// TestMQTT311Agent: uspctl reaches an agent whose MQTT client is 3.1.1
// (Debian's mosquitto-clients, through mosquitto) with no flag about MQTT
// versions. Such an agent gets no Response Topic and answers a first
// request on the controller topic it is configured with, so that is the
// topic uspctl must receive on (--topic); without it the timeout says so.
func TestMQTT311Agent(t *testing.T) {
	const id, topic, ctlTopic = "os::012345-SN0311", "/usp/agent/SN0311", "/usp/controller/uspctl"
	url := brokertest.StartMosquitto(t)
	agent := brokertest.StartAgent311(t, url, id, topic, ctlTopic)
	conn := []string{"--broker", url, "--agent", id, "--agent-topic", topic}

	done := make(chan cliRun, 1)
	go func() {
		done <- runCLI(t, nil, "", append([]string{"get", "--topic", ctlTopic, "--timeout", "15s", "Device.DeviceInfo."}, conn...)...)
	}()
	agent.AnswerGet(defaultController, topic, "Device.DeviceInfo.", map[string]string{"SoftwareVersion": "4.0.1"})
	r := <-done
	r.wantCode(t, exitOK)
	if r.stdout != "Device.DeviceInfo.SoftwareVersion  4.0.1\n" {
		t.Errorf("stdout %q", r.stdout)
	}

	go func() {
		done <- runCLI(t, nil, "", append([]string{"get", "--timeout", "1s", "Device.DeviceInfo."}, conn...)...)
	}()
	agent.AnswerGet(defaultController, topic, "Device.DeviceInfo.", map[string]string{"SoftwareVersion": "4.0.1"})
	r = <-done
	r.wantCode(t, exitTimeout)
	if !strings.Contains(r.stderr, "3.1.1") || !strings.Contains(r.stderr, "--topic") {
		t.Errorf("stderr %q does not say what to give", r.stderr)
	}
}
