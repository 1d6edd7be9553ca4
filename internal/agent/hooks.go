package agent

import (
	"encoding/json"
	"fmt"

	"switchboard/internal/wire"
)

// hookInput is what agent CLIs tell their hooks: Claude Code writes a JSON
// object to the hook's standard input (hook_event_name and, for some
// events, more); Codex passes its notify program a JSON argument (type).
type hookInput struct {
	HookEventName    string `json:"hook_event_name"`
	NotificationType string `json:"notification_type"`
	Message          string `json:"message"`
	Type             string `json:"type"`
	LastMessage      string `json:"last-assistant-message"`
}

// HookState maps a hook's JSON to an attention state and its reason. ok
// is false for an event that says nothing about attention; it is to be
// ignored, not reported.
//
//	Notification (permission_prompt, idle_prompt, elicitation_dialog, or
//	  none given)                              → waiting, with its message
//	Notification auth_success                  → ignored
//	UserPromptSubmit, PreToolUse, PostToolUse,
//	  PreCompact                               → working
//	Stop, SessionStart                         → idle
//	Codex agent-turn-complete                  → idle
//	anything else                              → ignored
func HookState(data []byte) (st wire.Attention, message string, ok bool, err error) {
	var in hookInput
	if err := json.Unmarshal(data, &in); err != nil {
		return "", "", false, fmt.Errorf("hook input is not a JSON object: %w", err)
	}
	switch in.HookEventName {
	case "Notification":
		if in.NotificationType == "auth_success" {
			return "", "", false, nil
		}
		return wire.AttentionWaiting, in.Message, true, nil
	case "UserPromptSubmit", "PreToolUse", "PostToolUse", "PreCompact":
		return wire.AttentionWorking, "", true, nil
	case "Stop", "SessionStart":
		return wire.AttentionIdle, "", true, nil
	case "":
		if in.Type == "agent-turn-complete" {
			return wire.AttentionIdle, in.LastMessage, true, nil
		}
	}
	return "", "", false, nil
}
