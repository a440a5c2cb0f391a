"""Public warnings: from an alarm to the people it concerns.

Subscribers per administrative unit and role, policies (which alarms go to whom, on which channel, with or without
an officer's approval), one durable message per recipient and channel with its delivery receipts, and the channels
that carry them: SMS through Kannel, Zalo, Telegram, loudspeakers and sirens on edge nodes; every public warning
also as CAP 1.2 and on the public status page. docs/warnings.md.
"""
