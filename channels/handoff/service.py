"""The handoff flows: a customer message, a claim, an agent message, a release.

They join the Redis store (the truth about who has a conversation) and the
assistant behind the bridge (the tracker). No HTTP here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from rasa.core.channels.channel import UserMessage
from redis.exceptions import RedisError

from channels.handoff import ticket_step
from channels.handoff.assignment import Candidate, least_loaded
from channels.handoff.auth import AgentIdentity, new_customer_token
from channels.handoff.bridge import INPUT_CHANNEL, ConversationBridge
from channels.handoff.config import HandoffConfig
from channels.handoff.errors import Conflict, HandoffError, NotFound, Unavailable
from channels.handoff.output import HandoffCollector, TranscriptOutputChannel
from channels.handoff.reading import nlu_reading, readings_by_text_order
from channels.handoff.settings import DeskSettings
from channels.handoff.store import (
    NO_QUOTA,
    Admission,
    Conversation,
    HandoffStore,
    IncomingResult,
    Message,
    Quota,
    now_ms,
)
from channels.handoff.ticket_step import NotForRasa, ReplyRelease, TicketStep
from channels.handoff.turns import RasaTurns, Turn

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


class BackgroundTasks:
    """Keeps fire-and-forget work alive and lets the server wait for it on stop."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                logger.error("%s failed: %r", what, finished.exception())

        task.add_done_callback(done)

    async def drain(self, timeout_s: float = 10.0) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)


@dataclass(frozen=True)
class LiveSettings:
    """Settings stamped on each customer message for the actions to read. The
    defaults are the actions' own (actions/handoff.py reads a missing one as such)."""

    enabled: bool = True
    in_office_hours: bool = True
    agents_online: int | None = None
    no_agents_policy: str = "wait"
    out_of_hours_policy: str = "bot"

    def to_metadata(self) -> dict[str, Any]:
        """The stamp: `agents_online` always, the others where they differ from their
        defaults. Rasa keeps a message's metadata in the tracker (twice, and once more
        for the first message of a session), and loads and saves the tracker for every
        message: a stamp of every field made the bot path's trackers 16% larger."""
        stamp: dict[str, Any] = {"agents_online": self.agents_online}
        for name, default in _LIVE_DEFAULTS:
            value = getattr(self, name)
            if value != default:
                stamp[name] = value
        return stamp


_LIVE_DEFAULTS = tuple((setting.name, setting.default) for setting in dataclasses.fields(LiveSettings))


@dataclass(frozen=True)
class CustomerMessage:
    """A customer's message on its way: who sent what (the client's id and metadata with
    it) and how it reaches Rasa."""

    sender: str
    text: str
    message_id: str | None
    metadata: dict[str, Any]
    on_new_message: OnNewMessage

    def for_rasa(self, output: HandoffCollector, stamp: dict[str, Any]) -> UserMessage:
        """The message as Rasa takes it: the bot's replies to `output`, the live settings
        `stamp` in its metadata."""
        return UserMessage(
            self.text,
            output,
            self.sender,
            input_channel=INPUT_CHANNEL,
            message_id=self.message_id,
            metadata={**self.metadata, "handoff": stamp},
        )


class HandoffService:
    """One request's view of the handoff: the store, the bridge and the config."""

    def __init__(
        self,
        store: HandoffStore,
        bridge: Callable[[], ConversationBridge],
        config: HandoffConfig,
        background: BackgroundTasks,
        turns: RasaTurns,
        ticket_steps: Callable[[], bool] | bool = False,
    ) -> None:
        self.store = store
        self._bridge = bridge
        self.config = config
        self.background = background
        self.turns = turns
        self._ticket_steps = ticket_steps

    @property
    def bridge(self) -> ConversationBridge:
        return self._bridge()

    @functools.cached_property
    def ticket_steps(self) -> bool:
        """Whether Rasa's lock store takes a customer message's step with its ticket
        (ticket_step.py); asked only by requests that reach Rasa."""
        steps = self._ticket_steps
        return steps if isinstance(steps, bool) else steps()

    async def desk_settings(self) -> DeskSettings:
        return await self.store.desk_settings(self.config.desk)

    @staticmethod
    def settings_for(incoming: IncomingResult) -> LiveSettings:
        """The live settings read in a bot message's own step (asked for with `desk=`)."""
        if incoming.desk is None:
            raise ValueError("the message was stored without reading the desk")
        desk, online = incoming.desk
        hours = desk.office_hours
        return LiveSettings(
            enabled=desk.enabled,
            in_office_hours=hours.is_open(datetime.now(timezone.utc)) if hours else True,
            agents_online=online,
            no_agents_policy=desk.no_agents_policy,
            out_of_hours_policy=desk.out_of_hours_policy,
        )

    # -- customers ---------------------------------------------------------------

    async def customer_message(
        self,
        sender: str,
        text: str,
        token: str | None,
        message_id: str | None,
        metadata: dict[str, Any],
        on_new_message: OnNewMessage,
        quota: Quota | None = None,
    ) -> dict[str, Any]:
        """Takes a customer message: to the bot in state `bot`, to the humans otherwise.
        `quota` (the rate limit) counts the request once the caller is known to own the sender.
        Messages for the bot take turns in Rasa in the order they came (see turns.py)."""
        # With nobody ahead in line, the message's step goes with Rasa's lock ticket; behind
        # others it goes at once, its round trip made while they are in Rasa (and a message
        # a human has reaches them without waiting for the bot's line), and its ticket, when
        # its turn comes, still brings the tracker and takes the replies back with it.
        with_ticket = self.ticket_steps and self.turns.waiting == 0
        async with self.turns.turn() as turn:
            if token is None and message_id is not None:
                # The first answer (with the token) was lost: its retry gets it again.
                earlier = await self.store.earlier_answer(sender, message_id)
                if earlier is not None and earlier.get("customer_token"):
                    return earlier
            extra = {"message_id": message_id} if message_id else {}
            new_token = new_customer_token(sender)
            admission: Admission | None = Admission(token, new_token, quota or NO_QUOTA)
            issued: str | None = None
            if message_id is not None:
                # Let in first, then reserved: a retry of this message gets the earlier answer.
                issued = await self.store.authenticate_customer(sender, token, new_token, quota)
                earlier = await self.store.reserve_request(sender, message_id)
                if earlier is not None:
                    return earlier
                admission = None
            message = CustomerMessage(sender, text, message_id, metadata, on_new_message)
            received: list[IncomingResult] = []
            try:
                # Otherwise let in and stored (with a human, queued for the tracker) in one
                # step: taken with Rasa's ticket for its lock when the lock store can.
                if with_ticket:
                    answer = await self._with_ticket(message, extra, admission, turn, received)
                else:
                    received.append(
                        await self.store.receive_customer_message(
                            sender, text, extra, metadata, admission, desk=self.config.desk
                        )
                    )
                    answer = await self._deliver(message, received[0], turn)
            except BaseException:
                issued = issued or (received[0].issued_token if received else None)
                if message_id is not None:
                    await self.store.forget_request(sender, message_id)
                if issued:
                    await self.store.unbind_customer_token(sender, issued)
                raise
            issued = issued or received[0].issued_token
            if issued:
                answer["customer_token"] = issued
            if message_id is not None:
                await self.store.store_answer(sender, message_id, answer)
            return answer

    async def _deliver(self, message: CustomerMessage, incoming: IncomingResult, turn: Turn) -> dict[str, Any]:
        """The answer to a stored customer message: with a human, the message waits for
        them (queued for the tracker already, see the recorder); with the bot, Rasa's,
        in the message's turn."""
        if incoming.state != "bot":
            turn.not_for_rasa()
            return await self._left_for_humans(message.sender, incoming)
        await turn.start_in_rasa()
        return await self._answer_in_rasa(message, incoming, turn)

    async def _with_ticket(
        self,
        message: CustomerMessage,
        extra: dict[str, Any],
        admission: Admission | None,
        turn: Turn,
        received: list[IncomingResult],
    ) -> dict[str, Any]:
        """`_deliver` with the message's step taken in the same round trip as Rasa's
        ticket for the conversation's lock (ticket_step.py): the message goes to Rasa in
        its turn, and Rasa's first call for it runs the step. The step's result lands in
        `received`; the live settings it reads are stamped on the message before Rasa
        reads the metadata (Rasa reads it after the ticket). The bot's replies are held
        for the ticket's return, and stored in its round trip."""
        sender, desk = message.sender, self.config.desk
        keys, args = self.store.customer_message_step(sender, message.text, extra, message.metadata, admission, desk)
        stamp: dict[str, Any] = {}

        def took(answer: Any) -> None:
            incoming = self.store.customer_message_result(answer, admission, desk)
            received.append(incoming)
            if incoming.state == "bot" and not incoming.resume_pending:
                stamp.update(self.settings_for(incoming).to_metadata())

        def stored() -> IncomingResult:
            if not received:  # Rasa returned without a ticket: the message is not stored
                raise Unavailable("rasa_unavailable", "The assistant did not take the message; send it again.")
            return received[0]

        collector = self._collector(sender, hold=True)
        replies = self._reply_release(sender, collector)
        step = TicketStep(sender, self.store.script_source("customer_message_ticket"), keys, args, took, replies)
        await turn.start_in_rasa()
        try:
            with ticket_step.waiting(step):
                return await self._rasa_answers(message, stored, collector, message.for_rasa(collector, stamp), turn)
        except NotForRasa:
            incoming = received[0]
        if incoming.state != "bot":
            return await self._left_for_humans(sender, incoming)
        await self.turns.back_in_rasa()  # a return to the bot to finish first: in line again
        return await self._answer_in_rasa(message, incoming, turn)

    async def _left_for_humans(self, sender: str, incoming: IncomingResult) -> dict[str, Any]:
        """The answer to a customer message that waits for a human."""
        answer: dict[str, Any] = {
            "sender": sender,
            "state": incoming.state,
            "messages": [],
            "message_id": incoming.message_id,
        }
        if incoming.state == "waiting":
            answer["queue_position"] = await self.store.waiting_position(sender)
        return answer

    def _collector(self, sender: str, hold: bool = False) -> HandoffCollector:
        """Each reply is stored as Rasa sends it, while Rasa goes on, or with `hold` when
        Rasa gives the ticket back (see HandoffCollector)."""
        return HandoffCollector(functools.partial(self.store.start_bot_message, sender), hold)

    def _reply_release(self, sender: str, collector: HandoffCollector) -> ReplyRelease:
        """The replies `collector` holds, stored when Rasa gives the message's ticket back."""
        return ReplyRelease(
            self.store.script_source("bot_messages_release"),
            lambda: self.store.bot_messages_step(sender, collector.held),
            collector.held_stored,
            collector.store_held,
        )

    async def _answer_in_rasa(self, message: CustomerMessage, incoming: IncomingResult, turn: Turn) -> dict[str, Any]:
        """Rasa's answer to a stored message for the bot, whose turn has come. When the lock
        store takes steps with its tickets, the message's ticket brings the tracker with it
        (lua/bot_ticket.lua) and its return stores the replies, as for a message whose own
        step went with its ticket: Rasa skips reading the tracker, and the answer waits for
        no round trip after Rasa."""
        sender = message.sender
        if incoming.resume_pending:
            await self.finish_release(sender)
        stamp = self.settings_for(incoming).to_metadata()
        collector = self._collector(sender, hold=self.ticket_steps)
        user_message = message.for_rasa(collector, stamp)
        with self._bare_ticket(sender, collector) if self.ticket_steps else contextlib.nullcontext():
            return await self._rasa_answers(message, lambda: incoming, collector, user_message, turn)

    def _bare_ticket(self, sender: str, collector: HandoffCollector) -> contextlib.AbstractContextManager[TicketStep]:
        """Rasa's ticket for a message already stored, waiting here for Rasa's call: it brings
        the tracker, and its return stores the replies `collector` holds."""
        bare = self.store.script_source("bot_ticket")
        return ticket_step.waiting(
            TicketStep(sender, bare, [], [], lambda _: None, self._reply_release(sender, collector))
        )

    async def _rasa_answers(
        self,
        message: CustomerMessage,
        stored: Callable[[], IncomingResult],
        collector: HandoffCollector,
        user_message: UserMessage,
        turn: Turn,
    ) -> dict[str, Any]:
        """Rasa handles the message; its replies (stored as it sent them) are the answer."""
        sender = message.sender
        try:
            await message.on_new_message(user_message)
        except BaseException:
            with contextlib.suppress(Exception):
                await collector.stored_ids()  # what Rasa said before it failed is in the transcript
            raise
        incoming = stored()
        turn.rasa_answered()
        entries = collector.entries
        ids = await collector.stored_ids()
        state = "bot"
        requests = collector.handoff_requests
        if requests:
            await self._queue(sender, incoming.message_id, requests[-1])
            state = "waiting"
        elif not entries and await self.bridge.is_paused(sender):
            # The bot paused the conversation but the queueing never happened (e.g. a
            # crash between the two): queue it now rather than leave the customer alone.
            await self.store.start_waiting(sender, "recovered")
            state = "waiting"
        messages = [
            {"id": i, "from": "bot", "text": text, **extra} for i, (text, extra) in zip(ids, entries, strict=True)
        ]
        answer: dict[str, Any] = {
            "sender": sender,
            "state": state,
            "messages": messages,
            "message_id": incoming.message_id,
        }
        if state == "waiting":
            answer["queue_position"] = await self.store.waiting_position(sender)
        return answer

    async def record_in_tracker(self, conversation_id: str) -> None:
        """Records the conversation's queued human-part messages in its tracker (see
        channels/handoff/recorder.py)."""
        bridge = self.bridge
        async with bridge.lock(conversation_id):
            await self._record_queued(bridge, conversation_id)

    async def _record_queued(self, bridge: ConversationBridge, conversation_id: str) -> None:
        """The caller holds the lock. Agents are shown the bot's reading of each customer message."""
        batch = await self.store.pending_recordings(conversation_id)
        if batch.entries:
            readings = await bridge.record(conversation_id, batch.messages) if batch.messages else []
            await self.store.forget_recordings(conversation_id, batch)
            for (message, _), parse in zip(batch.messages, readings, strict=True):
                if parse.get("intent"):
                    await self.store.add_reading(conversation_id, message.id, nlu_reading(parse))

    async def channel_message(self, message: UserMessage, on_new_message: OnNewMessage) -> None:
        """A customer message from another Rasa channel (Socket.IO, REST...): the same
        handoff, the bot's replies through that channel's own output."""
        sender, text = message.sender_id, message.text or ""
        channel = message.input_channel or "unknown"
        extra = {"channel": channel}
        if message.message_id:  # the tracker records the human part under the channel's own id too
            extra["message_id"] = message.message_id
        incoming = await self.store.receive_customer_message(
            sender, text, extra, message.metadata or {}, desk=self.config.desk
        )
        if incoming.state != "bot":
            return
        if incoming.resume_pending:
            await self.finish_release(sender)
        settings = self.settings_for(incoming)
        tee = TranscriptOutputChannel(self.store, inner=message.output_channel, delivered_by=channel)
        relayed = UserMessage(
            text,
            tee,
            sender,
            input_channel=channel,
            message_id=message.message_id,
            metadata={**(message.metadata or {}), "handoff": settings.to_metadata()},
        )
        await on_new_message(relayed)
        if tee.handoff_requests:
            await self._queue(sender, incoming.message_id, tee.handoff_requests[-1])

    async def _queue(self, sender: str, message_id: str, request: dict[str, Any]) -> None:
        """The bot asked for a human: into the Waiting queue, with its reading of the message."""
        await self.store.start_waiting(sender, str(request.get("reason") or "nlu_fallback"))
        if isinstance(request.get("reading"), dict):
            await self.store.add_reading(sender, message_id, request["reading"])
        self.background.spawn(self.auto_assign(), "auto-assigning waiting customers")

    async def auto_assign(self, desk: DeskSettings | None = None, limit: int = 100) -> int:
        """With the desk's `auto_assign` on, gives waiting customers (longest-waiting
        first) to the least-loaded online agents with room; returns how many. Each
        assignment is the atomic claim, so processes doing this at once never collide."""
        desk = desk or await self.desk_settings()
        if not desk.auto_assign:
            return 0
        online = [a for a in await self.store.agents(desk.offline_grace_s * 1000) if a["status"] == "online"]
        waiting = await self.store.waiting_since_before(now_ms() + 1, limit) if online else []
        if not waiting:
            return 0
        loads = await self.store.agent_loads([a["id"] for a in online])
        candidates = [Candidate(a["id"], a["name"], loads[a["id"]]) for a in online]
        assigned = 0
        for conversation_id, _ in waiting:
            while (agent := least_loaded(candidates, desk.max_chats_per_agent)) is not None:
                try:
                    await self.store.claim(conversation_id, agent.id, agent.name, desk.max_chats_per_agent)
                except Conflict as refused:
                    if refused.code != "capacity_reached":
                        break  # somebody claimed it meanwhile
                    candidates.remove(agent)  # full since the loads were read
                    continue
                except NotFound:
                    break
                agent.load += 1
                assigned += 1
                break
            else:
                return assigned  # nobody has room
        return assigned

    # -- agents -------------------------------------------------------------------

    async def transcript_for_agents(self, conversation_id: str) -> list[Message]:
        """The transcript with the bot's reading of every customer message: those of the
        human part carry theirs; those the bot answered get theirs from the tracker."""
        transcript = await self.store.transcript(conversation_id, readings=True)
        if all(m.author != "customer" or "reading" in m.data for m in transcript):
            return transcript
        try:
            parses = await self.bridge.customer_parses(conversation_id)
        except Unavailable:
            return transcript  # Rasa not ready: the transcript without those readings
        readings = readings_by_text_order([(m.id, m.text) for m in transcript if m.author == "customer"], parses)
        return [
            replace(m, data={**m.data, "reading": readings[m.id]})
            if m.author == "customer" and "reading" not in m.data and m.id in readings
            else m
            for m in transcript
        ]

    async def claim(self, conversation_id: str, agent: AgentIdentity, quota: Quota | None = None) -> Conversation:
        # The script reads the desk's stored capacity and counts the agent's request
        # itself: one round trip per claim.
        return await self.store.claim(
            conversation_id, agent.id, agent.name, self.config.desk.max_chats_per_agent, quota
        )

    async def transfer(self, conversation_id: str, agent: AgentIdentity, target: AgentIdentity | None) -> Conversation:
        """To another agent, or (target None) back to the Waiting queue."""
        desk = await self.desk_settings()
        await self.store.transfer(
            conversation_id,
            agent.id,
            target.id if target else None,
            target.name if target else None,
            force=agent.at_least("supervisor"),
            max_chats=desk.max_chats_per_agent,
        )
        return await self.store.require_conversation(conversation_id)

    async def takeover(self, conversation_id: str, agent: AgentIdentity) -> Conversation:
        """An agent takes a conversation from the bot: the bot goes quiet at once."""
        desk = await self.desk_settings()
        bridge = self.bridge
        async with bridge.lock(conversation_id):
            conversation = await self.store.takeover(conversation_id, agent.id, agent.name, desk.max_chats_per_agent)
            await bridge.pause(conversation_id)
        return conversation

    async def cancel_waiting(self, conversation_id: str) -> Conversation:
        """The customer stops waiting and goes back to the bot."""
        bridge = self.bridge
        async with bridge.lock(conversation_id):
            if not await self.store.return_to_bot(conversation_id, "customer", "You're back with the assistant."):
                raise Conflict("not_waiting", "You are not waiting for an agent.")
            await self._resume_bot(bridge, conversation_id)
        return await self.store.require_conversation(conversation_id)

    async def agent_message(
        self, conversation_id: str, agent: AgentIdentity, text: str, quota: Quota | None = None
    ) -> Message:
        """Stores and pushes the message and queues it for the tracker (one round trip,
        the request counted against `quota` in it)."""
        return await self.store.add_agent_message(conversation_id, agent.id, agent.name, text, quota)

    async def release(self, conversation_id: str, agent: AgentIdentity) -> Conversation:
        """Hands the customer back to the bot, inside the conversation's lock, so a
        customer message arriving meanwhile is neither lost nor answered twice."""
        bridge = self.bridge
        async with bridge.lock(conversation_id):
            await self.store.release(conversation_id, agent.id, force=agent.at_least("supervisor"))
            await self._resume_bot(bridge, conversation_id)
        return await self.store.require_conversation(conversation_id)

    async def finish_release(self, conversation_id: str) -> None:
        """Completes a return to the bot whose bot side did not run (e.g. Rasa was down)."""
        bridge = self.bridge
        async with bridge.lock(conversation_id):
            await self._resume_bot(bridge, conversation_id)

    async def _resume_bot(self, bridge: ConversationBridge, conversation_id: str) -> None:
        """Runs the action owed to the bot side (the caller holds the lock), once;
        what the human part left unrecorded goes into the tracker before it (if that
        fails, the bot resumes all the same and the recorders retry)."""
        try:
            await self._record_queued(bridge, conversation_id)
        except (RedisError, OSError):
            raise
        except Exception as failure:
            logger.warning("recording %r before the bot resumes failed: %r", conversation_id, failure)
        action = await self.store.resume_pending(conversation_id)
        if action is None:
            return
        output = TranscriptOutputChannel(self.store)
        await bridge.run_action(conversation_id, action, output)
        await self.store.finish_resume(conversation_id)

    # -- the desk's clock: unclaimed waits and agents who left ----------------------------

    async def sweep(self) -> None:
        """Applies the agent-fallback policies; safe to run in every process at once
        (each step is one atomic transition with an expectation)."""
        desk = await self.desk_settings()
        now = now_ms()
        if desk.claim_timeout_s > 0:
            for conversation_id, since in await self.store.waiting_since_before(now - desk.claim_timeout_s * 1000):
                if desk.claim_timeout_policy == "bot":
                    notice = "Nobody could take the chat in time."
                    await self._no_agent_for(conversation_id, "claim_timeout", notice, since)
                elif await self.store.mark_once(conversation_id, "timeout_notified"):
                    await self.bridge.run_action(
                        conversation_id, "action_still_waiting", TranscriptOutputChannel(self.store)
                    )
        for agent_id in await self.store.agents_gone_since(now - desk.offline_grace_s * 1000):
            for conversation_id in await self.store.agent_conversations(agent_id):
                try:
                    # As the gone agent, not by force: a chat moved to someone else meanwhile stays put.
                    await self.store.transfer(conversation_id, agent_id, None, reason="agent_offline")
                except HandoffError:
                    continue
                if desk.agent_offline_policy == "bot":
                    await self._no_agent_for(conversation_id, "agent_offline", "Your agent had to leave.")
        await self.auto_assign(desk)  # also gives the returned customers to whoever is online

    async def _no_agent_for(self, conversation_id: str, cause: str, notice: str, since: int | None = None) -> None:
        """A waiting customer goes back to the bot, which says no agent is available
        (`action_no_agents_online`); nothing happens if they stopped waiting (or, with
        `since`, waited anew) meanwhile."""
        bridge = self.bridge
        async with bridge.lock(conversation_id):
            returned = await self.store.return_to_bot(
                conversation_id, cause, notice, "action_no_agents_online", expected_waiting_since=since
            )
            if returned:
                await self._resume_bot(bridge, conversation_id)
