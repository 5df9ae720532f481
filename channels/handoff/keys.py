"""Redis key names: every key of one bot carries the same hash tag, so each Lua
script touches a single Redis Cluster slot."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class KeySpace:
    """Builds every Redis key the handoff store uses, under one prefix."""

    bot: str = "default"
    prefix: str = "handoff"

    @cached_property
    def base(self) -> str:
        """The prefix of every key (kept: each key of every message starts with it)."""
        return f"{self.prefix}:{{{self.bot}}}:"

    def conversation(self, conversation_id: str) -> str:
        return f"{self.base}conv:{conversation_id}"

    def messages(self, conversation_id: str) -> str:
        return f"{self.base}msgs:{conversation_id}"

    def dedupe(self, conversation_id: str, message_id: str) -> str:
        return f"{self.base}dedupe:{conversation_id}:{message_id}"

    def agent_conversations(self, agent_id: str) -> str:
        return f"{self.base}agent:{agent_id}:convs"

    def channel_members(self, channel: str) -> str:
        return f"{self.base}channel:{channel}"

    def channel_relayed(self, channel: str, message_id: str) -> str:
        """Set by the one process that relays a message to a push channel (callback)."""
        return f"{self.base}channel:{channel}:relayed:{message_id}"

    def channel_cursors(self, channel: str) -> str:
        """Conversation id -> the last transcript id handed to a pull channel (REST)."""
        return f"{self.base}channel:{channel}:delivered"

    def rate(self, subject: str, second: int) -> str:
        return f"{self.base}rate:{subject}:{second}"

    def readings(self, conversation_id: str) -> str:
        return f"{self.base}readings:{conversation_id}"

    def notes(self, conversation_id: str) -> str:
        return f"{self.base}notes:{conversation_id}"

    def customer(self, conversation_id: str) -> str:
        return f"{self.base}customer:{conversation_id}"

    @cached_property
    def presence(self) -> str:
        return f"{self.base}presence"

    @cached_property
    def agent_status(self) -> str:
        return f"{self.base}agent-status"

    @cached_property
    def agents(self) -> str:
        return f"{self.base}agents"

    @cached_property
    def canned_responses(self) -> str:
        return f"{self.base}canned"

    @cached_property
    def waiting(self) -> str:
        return f"{self.base}waiting"

    @cached_property
    def all_conversations(self) -> str:
        return f"{self.base}convs"

    @cached_property
    def events(self) -> str:
        return f"{self.base}events"

    def recording(self, conversation_id: str) -> str:
        """The human-part messages of a conversation not yet in Rasa's tracker, oldest first."""
        return f"{self.base}recording:{conversation_id}"

    @cached_property
    def recordings(self) -> str:
        """A stream of conversations with messages to record; the recorders' consumer group reads it."""
        return f"{self.base}recordings"

    @cached_property
    def settings(self) -> str:
        return f"{self.base}settings"

    @cached_property
    def training_examples(self) -> str:
        return f"{self.base}training"

    # -- analytics (channels/handoff/analytics.py) -----------------------------------

    @cached_property
    def stats(self) -> str:
        """Counters and histogram buckets since counting began (a hash)."""
        return f"{self.base}stats"

    @cached_property
    def stats_leader(self) -> str:
        """The process that counts the feed now (a lease that its holder renews)."""
        return f"{self.base}stats:leader"

    @cached_property
    def stats_cursor(self) -> str:
        """The id of the last feed event counted: every process counts from here."""
        return f"{self.base}stats:cursor"

    @cached_property
    def stats_open(self) -> str:
        """Conversation id -> where its handoff stands (waiting or with an agent)."""
        return f"{self.base}stats:open"

    @cached_property
    def stats_fallback_texts(self) -> str:
        """Normalized customer text -> how often it caused a fallback (sorted set)."""
        return f"{self.base}stats:fallbacks"

    @cached_property
    def stats_fallback_latest(self) -> str:
        """Normalized customer text -> its latest occurrence (JSON: text, conversation, at)."""
        return f"{self.base}stats:fallbacks:latest"

    def stats_day(self, day: str) -> str:
        """One UTC day's counters (`day` is YYYY-MM-DD)."""
        return f"{self.base}stats:day:{day}"

    def stats_day_waits(self, day: str) -> str:
        """One UTC day's times to claim, in milliseconds (a list, for the median)."""
        return f"{self.base}stats:day:{day}:waits"
