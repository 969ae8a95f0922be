"""Crisis patterns: high-precision signs of danger now, read clause by clause.

Anyone who may be in danger now must get 999 in the first reply. These
patterns are one of two urgency signals; the other is a statistical
classifier trained on urgent messages and near misses
(``bot.rasa_plugins.urgency``), which catches danger put in words no pattern
foresaw. Patterns alone do not generalise, but where they fire they are
nearly always right, and they need no training.

Words are not meaning, so each clause is read in context before a pattern
counts:

* negation just before the match ("nobody is in danger", "she's not in
  danger") cancels it;
* a clause about the past ("when I was 14 I was raped", "years ago") is not
  danger now (it still deserves care, which the dialogue gives);
* a general question ("how can I tell if a child is being exploited", "how
  many girls were trafficked") is not a report of danger.

The text is first normalised the way worried people write: lower case, no
apostrophes, stretched letters squeezed ("helppp"), and common text-speak
spelled out ("rn", "u", "im", "hes", "wont"). It is then cut into clauses of
at most :data:`MAX_CLAUSE_WORDS` words, so matching costs time in proportion
to the length of the message, however long it is.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Callable, Collection, Mapping, Sequence


class Signal(enum.Enum):
    DANGER = "danger"  # someone may be in danger now: 999
    SELF_HARM = "self_harm"  # suicide or self-harm: 999 if in danger, and Samaritans


# The urgency decision's levels (bot.rasa_plugins.urgency writes them into Rasa's
# parse data): DANGER, someone may be in danger now, so 999 opens the first reply;
# RISK, a weaker sign, so the first reply carries 999 somewhere.
DANGER, RISK = Signal.DANGER.value, "risk"

# The answers written for a crisis, by name in domain.yml. Each opens with 999, so
# nothing is put on top of them. ANSWER_TO is what a signal gets when nothing else did.
ANSWER_TO = {Signal.DANGER: "utter_emergency", Signal.SELF_HARM: "utter_self_harm"}
SELF_HARM_RESPONSES = frozenset({"utter_self_harm", "utter_self_harm_now"})
# The scripts for danger now ("call 999 now"): the alarm a calm message must never open with.
ALARMS = frozenset({"utter_emergency", "utter_self_harm_now"})
CRISIS_RESPONSES = frozenset(ANSWER_TO.values()) | SELF_HARM_RESPONSES | ALARMS


def opening(text: str) -> str:
    """A message's first paragraph: what a person in a hurry reads."""
    return text.strip().split("\n\n", 1)[0]


def opens_safely(signal: Signal | None, replies: Sequence[str], emergency_number: str,
                 self_harm_answers: Collection[str] = ()) -> bool:
    """Whether ``replies`` open as ``signal`` needs: THE definition of "safe first".

    The emergency number in the first paragraph of the first message, and for
    self-harm the self-harm answer itself (Samaritans, what to tell 999) among
    them. A number further down does not count: nearly every answer mentions
    999 somewhere.
    """
    if signal is None:
        return True
    if not replies or emergency_number not in opening(replies[0]):
        return False
    return signal is not Signal.SELF_HARM or any(r in self_harm_answers for r in replies)


@dataclass(frozen=True)
class CrisisAnswers:
    """The crisis answers as a person receives them (numbers filled in), and what
    they mean for a set of replies. Whoever holds the directory and the responses
    builds one: the engine, from its model; the evaluation, from the project."""

    emergency_number: str
    texts: Mapping[str, str]  # a CRISIS_RESPONSES name -> its text

    @classmethod
    def build(cls, emergency_number: str, text_of: Callable[[str], str]) -> "CrisisAnswers":
        return cls(emergency_number, {name: text_of(name) for name in sorted(CRISIS_RESPONSES)})

    def answer_to(self, signal: Signal) -> str:
        return self.texts[ANSWER_TO[signal]]

    def opens_safely(self, signal: Signal | None, replies: Sequence[str]) -> bool:
        return opens_safely(signal, replies, self.emergency_number,
                            [self.texts[name] for name in SELF_HARM_RESPONSES])

    def alarmed(self, replies: Sequence[str]) -> bool:
        """Whether the replies open with one of the ALARMS: what a calm message must
        not get (999 on top of an ordinary answer is not an alarm)."""
        return bool(replies) and opening(replies[0]) in {opening(self.texts[n]) for n in ALARMS}


_TEXT_SPEAK = {
    "rn": "right now", "atm": "at the moment", "asap": "now", "u": "you", "ur": "your",
    "r": "are", "im": "i am", "ive": "i have", "hes": "he is", "shes": "she is",
    "theyre": "they are", "theyve": "they have", "its": "it is", "wont": "will not",
    "cant": "cannot", "cnt": "cannot", "dont": "do not", "doesnt": "does not",
    "didnt": "did not", "isnt": "is not", "wudnt": "would not", "wouldnt": "would not",
    "gonna": "going to", "gna": "going to", "wanna": "want to", "pls": "please",
    "plz": "please", "plez": "please", "hlp": "help", "bf": "boyfriend", "kms": "kill myself",
    "kys": "kill yourself", "unalive": "kill", "2": "to", "coz": "because", "cuz": "because",
    "sumone": "someone", "sum1": "someone", "some1": "someone", "any1": "anyone",
    "n": "and", "b4": "before", "h8": "hate", "nd": "and", "wiv": "with", "wit": "with",
    "hurtin": "hurting", "abusin": "abusing", "touchin": "touching", "hittin": "hitting",
    "cuttin": "cutting", "killin": "killing", "gettin": "getting", "makin": "making",
    "nobodys": "nobody is", "noones": "no one is", "isnt": "is not", "arent": "are not",
    "wasnt": "was not", "werent": "were not", "aint": "is not", "hasnt": "has not",
    "havent": "have not", "nah": "no", "nope": "no", "shes": "she is", "thats": "that is",
    "hell": "he will", "shell": "she will", "theyll": "they will", "hed": "he would",
    "ppl": "people", "txt": "text", "txted": "texted", "msg": "message", "tho": "though",
}

# Words for the people who might be harming or at risk, and for harm itself.
_PERSON = (r"(?:he|she|they|him|her|them|someone|somebody|a man|men|a guy|guys|an adult|adults"
           r"|my (?:\w+ )?(?:dad|father|stepdad|step dad|mum|mother|uncle|brother|cousin|boyfriend"
           r"|partner|teacher|coach|neighbour|carer|friend)|his mates|their mates|the men)")
_VICTIM = r"(?:me|us|her|him|them|my (?:\w+ )?(?:daughter|son|child|kid|sister|brother|friend|niece|nephew|girl|boy))"
_HARM_ING = (r"(?:hurting|hurtin|abusing|raping|attacking|beating|hitting|touching|molesting|assaulting"
             r"|strangling|choking|kicking|punching|threatening|forcing|pimping|selling|drugging"
             r"|trafficking|stabbing|harming)")
_HARM_VERB = (r"(?:hurt|hurts|abuse|abuses|abused|rape|rapes|raped|attack|attacks|attacked|beat|beats"
              r"|hit|hits|touch|touches|touched|molest|molests|molested|assault|assaults|assaulted"
              r"|force|forces|forced|strangle|strangled|choke|choked|kick|kicks|punch|punches|stab|stabbed"
              r"|kill|drug|drugged|sell|sold|pimp|pimped|share|shared|film|filmed|threaten|threatened)")
_NOW = r"(?:right now|now|at the moment|tonight|today|currently|still|again|this minute|as we speak)"

_DANGER_PATTERNS = [
    # Being in danger, unsafe, or in an emergency.
    r"\b(?:in|into) (?:immediate |real |serious |grave )?dang[ae]r\b",
    r"\bdang[ae]r(?:ous)? (?:right now|now|tonight)\b",
    r"\b(?:not|never) (?:feel |feeling )?safe\b",
    r"\bunsafe\b",
    r"\b(?:it is|this is|i have|we have|there is|theres|got) an emergency\b",
    r"^\W*emergency\b|\bemergency (?:please|help|now)\b",
    r"\bsos\b",
    # Harm happening now, or ongoing.
    rf"\b(?:is|are|am|being|been|keeps?|keep on|keeps on|always|still|started) {_HARM_ING}\b",
    rf"\b{_HARM_ING} (?:{_VICTIM}|me)\b",
    rf"\b(?:being|been|getting) (?:sexually |physically |badly )?(?:{_HARM_VERB}|exploited|trafficked|pimped|sold|raped)\b",
    rf"\b{_PERSON} (?:\w+ )?{_HARM_VERB} (?:me|us)\b",
    rf"\b{_HARM_VERB} (?:{_VICTIM}) (?:\w+ )?{_NOW}\b",
    rf"\b{_NOW} (?:\w+ ){{0,3}}(?:{_HARM_ING}|being {_HARM_VERB})\b",
    r"\b(?:sexually )?(?:abused|raped|assaulted|attacked) (?:last night|this morning|today|tonight|earlier|just now|yesterday)\b",
    r"\bmakes? me (?:do|have) (?:sex|sexual|stuff|things)\b",
    r"\b(?:made|makes|make|making|forced|forces|force|forcing) (?:me|her|him|us|them) (?:to )?(?:have sex|sleep with|do sexual|do things|do stuff|go with|do it with)\b",
    r"\b(?:screaming|crying for help|shouting for help|calling for help)\b",
    # Held, trapped or unable to leave.
    r"\b(?:will not|would not|does not|did not|do not|wont|never) let (?:me|her|him|us|them|my \w+) (?:\w+ )?(?:leave|go|out|home|escape|get away|see|talk|call)\b",
    r"\b(?:locked|trapped|held|kept|stuck|tied) (?:up |me |her |him |us |them )?(?:in|inside|somewhere|against|hostage|prisoner|up)\b",
    r"\b(?:trapped|tied up|held hostage|kidnapped|abducted|kidnap|abduct|snatched)\b",
    r"\bcannot (?:get out|leave|escape|get away|get home|go home|get help)\b",
    r"\b(?:taken|took|grabbed|dragged|bundled) (?:her|him|me|my \w+|a (?:girl|boy|child|kid)) (?:\w+ ){0,2}(?:away|into|in|off|to)\b",
    r"\b(?:dragged|bundled|pulled|pushed|forced|taken) (?:in|into) (?:a|the|his|their|some) (?:car|van|house|flat|room)\b",
    r"\b(?:is|are|has gone|have gone|has been|went) missing\b|\bmissing (?:since|overnight|all night|right now)\b",
    r"\b(?:has|have|just) (?:run|ran) away\b|\b(?:has not|did not|never) (?:come|came) home\b",
    # Threats and weapons.
    r"\bthreat(?:en|ens|ened|ening)\b",
    rf"\b(?:going to|will|gonna|said he would|says he will|said they would|says they will|wants? to|trying to|tried to) (?:\w+ )?(?:kill|hurt|rape|beat|stab|shoot|attack|take) (?:{_VICTIM}|me|us|you)\b",
    r"\b(?:knife|gun|weapon|machete|blade)\b",
    r"\b(?:scared|afraid|terrified|frightened) (?:for (?:my|her|his|their) (?:life|safety)|(?:of|that) (?:him|them|what (?:he|they))|(?:he|she|they) (?:will|is going to|are going to|might))\b",
    r"\b(?:is|are|keeps?|been|being|started) (?:following|stalking|watching) (?:me|us|her|him)\b|\bfollowed (?:me|us|her|him)\b|\bstalk\w*\b",
    r"\b(?:waiting |parked |sitting )?outside (?:my|our|her|his|the) (?:house|door|home|school|flat)\b",
    r"\b(?:coming|come) (?:back )?(?:for|after) (?:me|her|him|us|my)\b",
    # A child telling us it is happening to them.
    rf"\b{_PERSON} (?:\w+ )?(?:touches|touched|rapes|raped|abuses|abused|molests|molested|hurts|hurt|hits|hit|beats|sends me|shows me|takes pictures|took pictures|films|filmed)\b",
    r"\bi am (?:\d{1,2}|a child|a kid|only \d{1,2}|under \d{2})\b.*\b(?:touch|abus|rape|sex|nudes?|pictures|photos|hurt|hit)",
    r"\b(?:touch|abus|rape|sex|nudes?|hurt|hit)\w*\b.*\bi am (?:\d{1,2}|only \d{1,2}|a child|a kid|under \d{2})\b",
    r"\b(?:asks?|asked|asking|makes?|made|wants?) (?:me|her|him) (?:to )?(?:send|for) (?:nudes|pics|pictures|photos)\b",
    r"\b(?:comes?|came|coming|gets?|got|getting|climbs?|sneaks?|creeps?) (?:in|into|in to) (?:my|her|his) (?:room|bedroom|bed)\b",
    r"\b(?:in|into) (?:my|her|his) (?:bed|bedroom) (?:at night|when)\b",
    # Held or controlled in ordinary words: keys or phone taken, driven off, not let out.
    r"\b(?:took|taken|takes|has|got|hid|hidden) (?:away )?(?:my|her|his|our) (?:phone|keys|key|passport)\b",
    r"\b(?:locked|lock) (?:me|her|him|us|them) (?:in|out|up)\b|\bdoor is locked\b|\blocked the door\b",
    r"\b(?:driving|drove|driven|taking|took) (?:me|her|him|us) (?:somewhere|to a|away|off|out of)\b",
    r"\bin (?:a|the|his|their) (?:car|van|taxi) with (?:\w+ ){0,2}(?:men|man|guys|strangers|older)\b",
    r"\b(?:men|man|guys|strangers) (?:are |is )?(?:outside|at the door|downstairs|banging)\b",
    r"\b(?:not|never) (?:come|came|got|been) (?:back )?home\b.*\b(?:night|am|oclock|morning|hours|answering)\b",
    r"\bnot (?:answering|picking up)\b.*\b(?:men|man|flat|car|night|am)\b",
    r"\b(?:texted|messaged|text|sent) (?:me )?help\b|\bsaid help\b",
    r"\b(?:will not|does not|is not|cannot) stop (?:the )?bleeding\b|\bbleeding (?:a lot|badly|everywhere|loads)\b|\b(?:unconscious|passed out|not breathing|wont wake up|will not wake up)\b",
    r"\b(?:is|are) (?:happening|going on) (?:right now|now)\b|\bhappening (?:right now|now|as we speak)\b",
    # Asking for help in the moment.
    r"^\W*(?:please |someone |somebody )?help(?: me| us| her| him)?(?: please| now)?\W*$",
    r"\bhelp (?:me|us|her|him) (?:please|now|quick)\b",
    r"\b(?:somebody|someone|anyone|any1) (?:please )?help\b",
    r"\bneed (?:help|the police|police) (?:right now|now|urgently|quick|fast)\b",
    r"\bcall (?:the )?police for me\b",
]

_SELF_HARM_PATTERNS = [
    r"\bkill(?:ing|ed)? (?:my ?self|herself|himself)\b|\bhang (?:my ?self|herself|himself)\b",
    r"\b(?:end|ending|take|taking) (?:my|my own) life\b",
    r"\bend (?:it all|everything)\b",
    r"\bsu[i]?ci[dt]\w*\b|\bsucide\w*\b|\bsuiside\w*\b",
    r"\b(?:want|wanna|going) to die\b|\bwish i (?:was|were) dead\b|\bbetter off dead\b",
    r"\b(?:do not|dont|never) want to (?:live|be alive|be here|exist|wake up|go on)\b",
    r"\bno (?:reason|point) (?:to|in) (?:live|living|going on)\b",
    r"\b(?:hurt|hurting|harm|harming|cut|cutting|burn|burning) (?:my ?self|myself)\b",
    r"\bself[ -]?harm\w*\b",
    r"\boverdos\w*\b|\btake (?:all )?(?:my |the )?(?:pills|tablets)\b",
    r"\b(?:took|taken|swallowed|had|done) (?:a (?:load|lot|bunch|packet|box) of |loads of |all (?:my |the |of )?|too many |lots of |some |\d+ |a whole (?:packet|box) of |my \w+ )(?:\w+ )?(?:pills|tablets|paracetamol)\b",
    r"\b(?:jump|jumping) (?:off|in front)\b|\bgoing to jump\b|\bon (?:a|the) (?:bridge|roof|ledge)\b",
    r"\bcannot (?:go on|cope|take it) any ?more\b",
]

_DANGER = re.compile("|".join(f"(?:{p})" for p in _DANGER_PATTERNS))
_SELF_HARM = re.compile("|".join(f"(?:{p})" for p in _SELF_HARM_PATTERNS))

# A clause never runs longer than this, so each pattern sees a bounded text.
MAX_CLAUSE_WORDS = 40
_CLAUSE_OVERLAP = 10
_BOUNDARY = re.compile(r"\s*(?:[.!?;\n]+|\bbut\b|\band now\b|\bthough\b)\s*")
_NEGATION = re.compile(r"\b(?:no one|noone|nobody|nothing|none|neither|never|not|no)\b")
_PAST = re.compile(
    r"\bwhen i was (?:little|young|younger|small|a (?:kid|child|teenager|girl|boy)|in care|\d{1,2})\b"
    r"|\b(?:years|months) ago\b|\bas a (?:child|kid|teenager)\b|\bback (?:then|in)\b"
    r"|\bused to\b|\bin (?:the )?(?:19|20)\d\ds?\b|\blast (?:year|month|week)\b|\bthe other day\b"
    r"|\bgrowing up\b|\bat the time\b")
# A message that says nobody is in danger now ("im safe at home now", "its not
# an emergency"): elsewhere in it, only a clause that insists on now counts.
_SAFE_NOW = re.compile(
    r"\b(?:i am|she is|he is|they are|we are|everyone is) (?:now |all |back )?(?:safe|home safe)\b"
    r"|\b(?:got|came|is|are|am) home safe\b|\bsafe now\b"
    r"|\b(?:not|nobody is|no one is|noone is) in (?:any )?(?:immediate )?danger\b"
    r"|\b(?:not|is not|isnt) (?:an emergency|urgent)\b")
_STRONG_NOW = re.compile(r"\b(?:right now|tonight|at the moment|currently|as we speak|still|again)\b")
# Hypotheticals and questions in general: "if I ever saw...", "what if someone was held".
_HYPOTHETICAL = re.compile(
    r"^(?:if i ever|what if|imagine|hypothetically|suppose)\b|\bhypothetically\b|\bfor the future\b"
    r"|\bjust (?:want|wanted) to know\b|\bwhat would (?:happen|the police)\b|\bwould i (?:ring|call)\b")
_GENERAL_QUESTION = re.compile(
    r"^(?:how|what|when|why|who|which|where|did|does|do|was|were|is it|are there|has|have|should"
    r"|would|could|can you tell)\b")
# A question about the person's own situation is not a general question,
# unless it asks how to tell ("how can I tell if a child is being exploited").
_FIRST_PERSON = re.compile(r"\b(?:i|me|my|we|us|our|mine)\b")
_HOW_TO_TELL = re.compile(r"^how (?:can|do|would|could|should) (?:i|you|we|people|someone) "
                          r"(?:tell|know|spot|recognise|recognize|notice)\b|^what are (?:the )?signs\b")
# Only these may stand between a negation and what it negates: "nobody is in
# danger", "she is not in danger" (but not "nobody knows he is abusing me").
_BRIDGE = frozenset("is are am was were be being been do does did feel feeling really actually "
                    "at in any all".split())


def normalise(text: str) -> str:
    """The message as patterns read it."""
    text = text.lower().replace("’", "'").replace("‘", "'")
    text = re.sub(r"[`'´]", "", text)
    text = re.sub(r"([a-z])\1{2,}", r"\1", text)  # helppp -> help, noooo -> no
    words = re.findall(r"[a-z0-9]+|[^a-z0-9\s]", text)
    return " ".join(_TEXT_SPEAK.get(word, word) for word in words)


def clauses(normal: str) -> list[str]:
    """A normalised message cut at sentence ends and "but", in bounded windows."""
    return [clause for clause, _ in _clauses(normal)]


def _clauses(normal: str) -> list[tuple[str, bool]]:
    """Each clause, and whether it is a whole sentence (not a window cut from one).

    A clause longer than MAX_CLAUSE_WORDS is read as overlapping windows, so a
    phrase that straddles a cut is still seen whole.
    """
    out = []
    step = MAX_CLAUSE_WORDS - _CLAUSE_OVERLAP
    for part in _BOUNDARY.split(normal):
        words = part.split()
        whole = len(words) <= MAX_CLAUSE_WORDS
        for start in range(0, max(len(words) - _CLAUSE_OVERLAP, 1), step):
            window = " ".join(words[start:start + MAX_CLAUSE_WORDS])
            if window:
                out.append((window, whole))
    return out


def _negated(clause: str, start: int) -> bool:
    """A negation just before ``start``, joined to the match by nothing but
    words such as "is" or "in"."""
    before = clause[max(0, start - 80):start].rsplit(",", 1)[-1]
    negations = list(_NEGATION.finditer(before))
    if not negations:
        return False
    between = before[negations[-1].end():].split()
    return len(between) <= 3 and all(word in _BRIDGE for word in between)


def _signals(clause: str, pattern: re.Pattern) -> bool:
    return any(not _negated(clause, m.start()) for m in pattern.finditer(clause))


def _general(clause: str) -> bool:
    return bool(_GENERAL_QUESTION.search(clause)) and (
        not _FIRST_PERSON.search(clause) or bool(_HOW_TO_TELL.search(clause)))


def _says_safe_now(normal: str) -> bool:
    return any(not _negated(normal, m.start()) or m.group(0).startswith(("not", "no"))
               for m in _SAFE_NOW.finditer(normal))


def says_safe_now(text: str) -> bool:
    """Whether the message says nobody is in danger now ("she's home safe", "it's not urgent")."""
    return _says_safe_now(normalise(text))


def assess(text: str) -> Signal | None:
    """The crisis signal in a message, if any. Self-harm wins over danger."""
    if not text:
        return None
    normal = normalise(text)
    danger = False
    for clause, whole in _clauses(normal):
        if _signals(clause, _SELF_HARM) and not (_PAST.search(clause) and not _STRONG_NOW.search(clause)):
            return Signal.SELF_HARM
        if danger or not _signals(clause, _DANGER):
            continue
        if _STRONG_NOW.search(clause):
            danger = True
        elif _says_safe_now(clause) or _HYPOTHETICAL.search(clause) or (whole and _general(clause)):
            continue
        elif not _PAST.search(clause):
            danger = True
    return Signal.DANGER if danger else None
