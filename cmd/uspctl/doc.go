// Command uspctl is a USP controller for the shell (Broadband Forum TR-369):
// it reads and changes an agent's data model, runs commands, lists the
// supported data model, prints notifications, and decodes captured records
// offline. It is built on packages usp, msg and record and on the mtp
// bindings.
//
// # Commands
//
//	uspctl get PATH... [--max-depth N]
//	uspctl set OBJ PARAM=VALUE... [OBJ PARAM=VALUE...] [--allow-partial] [--optional PARAM]
//	uspctl add OBJ [PARAM=VALUE...] [--allow-partial] [--optional PARAM]
//	uspctl delete PATH... [--allow-partial]
//	uspctl operate COMMAND [ARG=VALUE...] [--no-wait] [--command-key K] [--no-subscribe]
//	uspctl gsdm PATH... [--first-level-only] [--params] [--commands] [--events] [--unique-keys] [--all]
//	uspctl instances PATH... [--first-level-only]
//	uspctl proto
//	uspctl listen [--count N] [--for D] [--subscribe TYPE=PATH[,PATH]] [--notif-retry]
//	uspctl agents [--for D] [--watch] [--heartbeat D] [--probe D] [--state S] [--prefix P] [--store FILE]
//	uspctl decode [FILE|-] [--hex] [--msg]
//	uspctl encode REQUEST ARGS... | --json FILE [--to ID] [--msg-id ID] [--hex] [--msg] [--out FILE]
//	uspctl send [FILE|-] [--hex] [--no-wait]
//	uspctl completion bash|zsh|fish|powershell
//
// Paths and NAME=VALUE arguments are checked before anything is sent.
// operate waits for asynchronous commands: it subscribes to their
// OperationComplete notification (see [usp.Agent.StartOperation]), waits, and
// removes the subscription again. listen answers every notification it
// prints with a NotifyResp when the agent asks for one; its --subscribe also
// takes TYPE:PATH, the examples' form. decode takes several files at once.
// encode builds a record offline (from a request written as for the commands
// above, or from the JSON decode prints) and send sends a record file as it
// is, printing the answer, like mosquitto_pub -f.
//
// # Connecting
//
// --mtp picks the binding: mqtt (--broker, --topic, --agent-topic, --qos,
// --username/--password, --tls-*), stomp (--broker host:port,
// --destination, --agent-destination), websocket (--listen ADDR for agents
// that dial in and announce themselves with a WebSocketConnect record, or
// --ws-url to dial an agent; --tls-agent-id checks the agent's certificate
// by the endpoint ID it names, see SECURITY.md) or uds (--socket). Agents are named with
// --agent ID (repeatable, optionally ID=ADDRESS) or --agents FILE. The
// "{id}" placeholder in --agent-topic and --agent-destination stands for
// each agent's endpoint ID. --timeout bounds connecting and each request.
//
// The common flags have short forms after mosquitto_pub/sub: -b broker,
// -a agent, -c controller-id, -t topic, -T agent-topic, -u username,
// -P password, -q qos, -W timeout, -o output, -v verbose (-h stays help).
// Agents such as OB-USP-A drop records from a controller ID they do not
// know without a word, so -c must name one in the agent's
// Device.LocalAgent.Controller. table; an agent whose MQTT client is 3.1.1
// answers on the controller topic it is configured with, so -t must name
// it. When nothing answers, the error lists these causes with the values
// used.
//
// # Configuration
//
// Every flag of the root command can also come from the environment
// (USPCTL_ and the flag name in upper case with "-" as "_", e.g.
// USPCTL_AGENT_TOPIC; repeatable flags take comma-separated lists) or
// from a JSON configuration file keyed by flag names (--config,
// USPCTL_CONFIG, or $XDG_CONFIG_HOME/uspctl/config.json when it exists).
// Flags win over the environment, which wins over the file.
//
// # Output
//
// Text output is aligned columns meant for people and grep; -o json gives
// one object per agent, {"agent", "exit_code", "error", "result"}, whose
// result has a documented shape per command (see each command's --help).
// listen -o json writes one JSON object per line.
//
// # Several agents
//
// With --agents FILE (lines "ENDPOINT-ID [ADDRESS]", # comments) or several
// --agent flags the command runs against every agent at once, at most
// --parallel at a time, over one connection. Text lines are prefixed with
// the agent's ID and printed in file order; JSON output is an array. A
// progress bar is drawn on stderr when it is a terminal.
//
// # Exit codes
//
//	0    success
//	1    the agent answered with an error or some paths failed; decode: invalid input
//	2    usage error: bad flags, arguments or configuration; nothing was sent
//	3    connection or transport error (broker unreachable, agent never connected)
//	4    timeout: no answer before --timeout
//	130  interrupted
//
// With several agents the exit code is the highest of theirs.
package main
