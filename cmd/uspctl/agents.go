package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/usp"
	"github.com/gousp/gousp/usp/store/boltstore"
)

const agentsLong = `Connect, wait --for (default 5s) and list the inventory: the agents seen (those
that announced themselves with connect records or WebSocket or UDS sessions, or
sent anything), those named with --agent or --agents, and, with --store, those
an earlier run kept in that file. Over MQTT and STOMP, agents announce
themselves to the topic or destination they have configured for this
controller: give it with --topic or --destination.

Each agent has a state: online (heard from), offline (said goodbye, its session
closed, the broker knows no subscriber, or it missed heartbeats or probes) or
unknown (not heard from in this run). --heartbeat asks agents for a Periodic!
event at that interval; --probe sends a GetSupportedProtocol to agents silent
that long. --state and --prefix select what is listed.

--watch prints every change of state as it happens, until --for ends (if
given) or Ctrl-C, instead of the list.

Text: a table with a header line: ENDPOINT ID, STATE, SINCE, MTP, ADDRESS,
VERSION, LAST SEEN, MODEL, SERIAL.
JSON: [{"endpoint_id", "state", "since", "reason", "mtp", "address", "connected",
"version", "supported_versions", "first_seen", "last_seen", "device_info"}].
--watch text: one line per change, "TIME  AGENT  FROM -> TO  REASON"; JSON: one
object per line {"time", "agent", "from", "to", "reason", "last_seen"}.`

type agentJSON struct {
	EndpointID        string          `json:"endpoint_id"`
	State             string          `json:"state,omitempty"`
	Since             *time.Time      `json:"since,omitempty"`
	Reason            string          `json:"reason,omitempty"`
	MTP               string          `json:"mtp"`
	Address           string          `json:"address"`
	Connected         bool            `json:"connected"`
	Version           string          `json:"version"`
	SupportedVersions []string        `json:"supported_versions,omitempty"`
	FirstSeen         *time.Time      `json:"first_seen,omitempty"`
	LastSeen          *time.Time      `json:"last_seen,omitempty"`
	DeviceInfo        *usp.DeviceInfo `json:"device_info,omitempty"`
}

type changeJSON struct {
	Time     time.Time  `json:"time"`
	Agent    string     `json:"agent"`
	From     string     `json:"from"`
	To       string     `json:"to"`
	Reason   string     `json:"reason,omitempty"`
	LastSeen *time.Time `json:"last_seen,omitempty"`
}

func (a *app) agentsCommand() *cobra.Command {
	var (
		forDur, heartbeat, probe time.Duration
		watch                    bool
		state, prefix, store     string
	)
	cmd := &cobra.Command{
		Use:     "agents",
		Short:   "List the agents with their state, or watch their state change",
		Long:    agentsLong,
		Example: "  uspctl agents --topic /usp/controller/ctl --for 10s\n  uspctl agents --topic /usp/controller/ctl --heartbeat 30s --watch",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if forDur < 0 || heartbeat < 0 || probe < 0 {
				return usageErrorf("--for, --heartbeat and --probe cannot be negative")
			}
			if heartbeat > 0 && heartbeat < time.Second {
				return usageErrorf("--heartbeat counts whole seconds, at least 1s")
			}
			want, err := usp.ParseAgentState(state)
			if err != nil {
				return usageErrorf("--state: %v", err)
			}
			if watch && !cmd.Flags().Changed("for") {
				forDur = 0 // until Ctrl-C
			}
			agents, _, err := a.agentList()
			if err != nil {
				return err
			}
			opts := []usp.Option{usp.WithLiveness(usp.LivenessConfig{Heartbeat: heartbeat, Probe: probe})}
			if store != "" {
				st, err := boltstore.Open(store)
				if err != nil {
					return err
				}
				defer st.Close()
				opts = append(opts, usp.WithStore(st))
			}
			if watch {
				opts = append(opts, usp.WithStateHandler(a.printChange))
			}
			cn, err := a.connect(cmd.Context(), agents, opts...)
			if err != nil {
				return err
			}
			defer cn.close()
			if cn.b.randomLocal != "" {
				a.errorf("note: receiving on %s, which no agent knows; give the topic or destination agents send to (--topic, --destination)", cn.b.randomLocal)
			}
			a.ready()
			var timer <-chan time.Time
			if forDur > 0 || !watch {
				t := time.NewTimer(forDur)
				defer t.Stop()
				timer = t.C
			}
			select {
			case <-timer:
			case <-cmd.Context().Done():
				if !watch {
					return &exitError{code: exitInterrupted, quiet: true}
				}
			}
			if watch {
				return nil
			}
			return a.printInventory(cn.c, usp.Query{State: want, Prefix: prefix})
		},
	}
	f := cmd.Flags()
	f.DurationVar(&forDur, "for", 5*time.Second, "how long to wait for agents (with --watch: how long to watch; default until Ctrl-C)")
	f.BoolVar(&watch, "watch", false, "print changes of state as they happen")
	f.DurationVar(&heartbeat, "heartbeat", 0, "ask agents on MQTT and STOMP for a Periodic! event at this interval")
	f.DurationVar(&probe, "probe", 0, "probe agents silent this long")
	f.StringVar(&state, "state", "", "list only agents in this state: online, offline or unknown")
	f.StringVar(&prefix, "prefix", "", "list only endpoint IDs that start with this")
	f.StringVar(&store, "store", "", "keep the inventory in this file (bbolt) between runs")
	return cmd
}

func utcPtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func (a *app) printChange(ch usp.StateChange) {
	if a.jsonOutput() {
		j := changeJSON{Time: ch.At.UTC(), Agent: ch.EndpointID, From: ch.From.String(), To: ch.To.String(), LastSeen: utcPtr(ch.Entry.LastSeen)}
		if ch.Reason != nil {
			j.Reason = ch.Reason.Error()
		}
		if err := a.writeJSONLine(j); err != nil {
			a.errorf("%v", err)
		}
		return
	}
	reason := ""
	if ch.Reason != nil {
		reason = "  " + oneLine(ch.Reason.Error())
	}
	a.writeText(fmt.Sprintf("%s  %s  %s -> %s%s\n", ch.At.UTC().Format(time.RFC3339), ch.EndpointID, ch.From, ch.To, reason))
}

func (a *app) printInventory(c *usp.Controller, q usp.Query) error {
	infos := map[string]usp.AgentInfo{}
	for _, in := range c.Agents() {
		infos[in.EndpointID] = in
	}
	var out []agentJSON
	for e := range c.Inventory().Query(q) {
		in := infos[e.EndpointID]
		j := agentJSON{
			EndpointID: e.EndpointID, State: e.State.String(), Since: utcPtr(e.Since), Reason: e.Reason,
			MTP: string(e.Address.MTP), Address: e.Address.To, Connected: in.Connected, Version: in.Version,
			SupportedVersions: msg.VersionList(e.SupportedVersions), FirstSeen: utcPtr(e.FirstSeen), LastSeen: utcPtr(e.LastSeen),
		}
		if e.DeviceInfo != (usp.DeviceInfo{}) {
			d := e.DeviceInfo
			j.DeviceInfo = &d
		}
		out = append(out, j)
	}
	if a.jsonOutput() {
		if out == nil {
			out = []agentJSON{}
		}
		return a.writeJSON(out)
	}
	var b strings.Builder
	t := newTable(&b)
	fmt.Fprintln(t, "ENDPOINT ID\tSTATE\tSINCE\tMTP\tADDRESS\tVERSION\tLAST SEEN\tMODEL\tSERIAL")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	when := func(p *time.Time) string {
		if p == nil {
			return "-"
		}
		return p.Format(time.RFC3339)
	}
	for _, j := range out {
		var d usp.DeviceInfo
		if j.DeviceInfo != nil {
			d = *j.DeviceInfo
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.EndpointID, j.State, when(j.Since), dash(j.MTP), dash(j.Address),
			dash(j.Version), when(j.LastSeen), dash(d.ModelName), dash(d.SerialNumber))
	}
	t.Flush()
	a.writeText(b.String())
	return nil
}
