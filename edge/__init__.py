"""The edge node: sensor drivers, durable outbox, MQTT link and the agent that wires them."""
