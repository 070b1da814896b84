"""Words for the codes the gateways and the alert engine use, marked for translation.
Unknown codes are shown as they are (never an empty cell)."""

from __future__ import annotations

from control_room.console.i18n import N_

STATES = {
    "online": N_("Online"), "offline": N_("Lost connection"), "stopped": N_("Stopped"),
    "stale": N_("Not reporting"), "unknown": N_("Unknown"),
    "on": N_("On"), "off": N_("Off"),
    "disarmed": N_("Not watching"), "up": N_("Working"), "degraded": N_("Weak"),
    "down": N_("Down"),
}
CAMERA_STATES = {"online": N_("Watching"), "offline": N_("Camera lost connection"),
                 "disarmed": N_("Not watching"), "unknown": N_("Unknown")}
REASONS = {
    "schedule": N_("By schedule"), "override": N_("Held by an operator"),
    "default": N_("Default state"), "manual": N_("Test switch"),
    "failsafe": N_("Failsafe"), "clock_unsynced": N_("Clock not set: keeping last state"),
}
RULES = {
    "gateway_offline": N_("Gateway lost connection"),
    "gateway_stopped": N_("Gateway stopped"),
    "camera_offline": N_("Camera lost connection"),
    "light_not_due": N_("Light not as scheduled"),
    "light_driver_error": N_("Light relay fault"),
    "hotspot_down": N_("Wifi hotspot down"),
    "hotspot_degraded": N_("Wifi hotspot weak"),
    "clock_unsynced": N_("Gateway clock not set"),
    "outbox_backlog": N_("Gateway messages delayed"),
    "disk_low": N_("Gateway disk almost full"),
    "seq_loss": N_("Messages lost"),
}
SEVERITIES = {"critical": N_("Critical"), "warning": N_("Warning"), "info": N_("Notice")}
ALERT_STATUS = {"pending": N_("Pending"), "firing": N_("Active"), "resolved": N_("Resolved"),
                "fired": N_("Active"), "acknowledged": N_("Acknowledged"),
                "cancelled": N_("Cancelled")}
ROLES = {"admin": N_("Administrator"), "operator": N_("Operator"), "viewer": N_("Viewer"),
         "police": N_("Police")}
ACTIONS = {
    "login": N_("Logged in"), "login_failed": N_("Login refused"), "logout": N_("Logged out"),
    "command": N_("Command"), "alert_ack": N_("Alert acknowledged"),
    "user_add": N_("User added"), "user_remove": N_("User removed"),
    "user_passwd": N_("Password changed"), "user_role": N_("Role changed"),
    "user_token": N_("API token issued"), "api": N_("API request"),
}
COMMANDS = {
    "override": N_("Hold"), "pulse": N_("Test switch"), "clear": N_("Back to schedule"),
    "arm": N_("Watch"), "disarm": N_("Stop watching"), "snapshot": N_("Take a picture"),
}
# adaptive decode: what starts decoding every frame between key frames
ACTIVITY_TRIGGERS = {"bitstream": N_("from the video stream"),
                     "size": N_("from packet sizes"), "off": N_("off (key frames only)")}
COMMAND_STATUS = {"ok": N_("Succeeded"), "error": N_("Refused by the gateway"),
                  "timeout": N_("No answer"), "refused": N_("Not sent"),
                  "sent": N_("Waiting for the answer")}
# what a page shows for a state: colour class for the badge
TONE = {"online": "ok", "up": "ok", "on": "on", "off": "off", "offline": "bad",
        "down": "bad", "stale": "bad", "degraded": "warn", "stopped": "warn",
        "disarmed": "warn", "unknown": "off", "critical": "bad", "warning": "warn",
        "info": "off", "firing": "bad", "pending": "warn", "resolved": "ok"}
