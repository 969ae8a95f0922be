"""What a conversation is about, and who is writing: two slots the answers depend on.

Last in the NLU pipeline (config.yml), this component adds two entities to
each message, which Rasa's own slot mappings (``from_entity`` in domain.yml)
keep in slots for the rest of the conversation:

* ``topic``: a service the person names ("what does Victim Support do?"),
  else the intent the message will be answered for, once urgency and the
  FAQ gate have had their say. A follow-up ("how do I contact them?", "is
  it free?") is its own intent, answered by one rule each. After a named
  service, bot.rasa_plugins.nlg answers it from that service's directory
  entry; after any other topic, its response has a variation per topic
  (Rasa's conditional response variations), so "them" is what the last
  answer was about. Follow-ups, yes and no, and small talk leave the topic
  as it was.
* ``persona``: who is writing, from what they say about themselves: a young
  person ("im 14"), an adult worried about a child ("my daughter"), a
  professional ("one of my pupils"), an adult survivor of past abuse ("when I
  was 12 ... I'm 40 now"), or someone worried about their own thoughts or
  behaviour towards children. Answers vary by it; when nobody has said, the
  default variation says who each service is for.

Cues are patterns rather than a classifier: what a person says about
themselves is explicit, a wrong persona costs more than none, and each cue
can be read and tested on its own.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (
    ENTITIES, ENTITY_ATTRIBUTE_TYPE, ENTITY_ATTRIBUTE_VALUE, EXTRACTOR, INTENT, INTENT_NAME_KEY, TEXT)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot import content, project, safety
from bot.rasa_plugins.long_messages import FULL_TEXT

TOPIC, PERSONA = "topic", "persona"
YOUNG_PERSON, PARENT, PROFESSIONAL, ADULT_SURVIVOR, OWN_THOUGHTS = (
    "young_person", "parent", "professional", "adult_survivor", "own_thoughts")
FOLLOW_UP_PREFIX = "followup_"
# Asked in a few words right after an answer ("whats the number?"), these are
# follow-ups on it; asked first, or at length, they are questions of their own.
FOLLOW_UP_WHEN_SHORT = frozenset({"ask_number"})
SHORT_WORDS = 6
# Messages that carry no topic of their own: they leave the last one in place.
NO_TOPIC = frozenset({"affirm", "deny", "greet", "goodbye", "thanks", "ask_help", "bot_challenge",
                      "nlu_fallback", "out_of_scope", "privacy", "language", "choose_language"})

_AGE = r"(?:[89]|1[0-7])"
_CHILD = (r"(?:daughter|son|child|children|kid|kids|stepdaughter|stepson|step daughter|step son"
          r"|granddaughter|grandson|grandchild|grandkids|niece|nephew|little girl|little boy|teenager"
          r"|foster (?:child|daughter|son)|boy|girl)")
_ROLE = (r"(?:teacher|teaching assistant|head ?teacher|head of year|safeguarding lead|dsl|coach"
         r"|youth worker|social worker|school nurse|nurse|gp|doctor|health visitor|midwife"
         r"|childminder|nursery (?:worker|nurse|manager)|police officer|pcso|counsellor|mentor"
         r"|support worker|care worker|residential worker|scout leader|cub leader|guide leader"
         r"|tutor|lecturer|welfare officer|pastoral (?:lead|manager|worker)|paramedic|practitioner)")
_CHILDREN = r"(?:children|kids|minors|under ?age|under 18s?|under sixteens|young (?:girls|boys|teens|people)|little (?:girls|boys|ones)|teenagers|teens|pre ?teens)"

# Each persona's cues, most specific first; the first persona with a cue wins.
_CUES = [
    (OWN_THOUGHTS, [
        rf"\b(?:my|having|have|got) (?:own )?(?:sexual )?(?:thoughts|urges|feelings|fantasies|attraction|interest) (?:about|towards|for|to|in) {_CHILDREN}",
        rf"\b(?:attracted|aroused|turned on) (?:to|by) {_CHILDREN}",
        rf"\bi (?:have |keep |cannot stop )?(?:looked|looking|look|watched|watching|viewed|viewing|downloaded|downloading|seen|searched|searching)(?: at| for)? (?:\w+ ){{0,4}}(?:images|pictures|pics|videos|photos|content|stuff|material|porn) (?:of|involving|with) {_CHILDREN}",
        r"\b(?:i am|am i|i think i am|i might be|i could be) (?:a )?(?:paedo|pedo|paedophile|pedophile|nonce)\b",
        rf"\bscared (?:of|by) (?:my|what i) (?:own )?(?:thoughts|might do|urges)\b",
    ]),
    (PROFESSIONAL, [
        rf"\b(?:i am|as|i work as|working as|i am working as) (?:a |an |the |their |his |her )?(?:\w+ )?{_ROLE}\b",
        rf"\bi (?:teach|coach|work (?:at|in|for) (?:a |the )?(?:school|nursery|academy|college|club|gp|surgery|hospital|ward|youth|childrens|care home|childrens home))\b",
        r"\b(?:my|our|one of my|one of our|a) (?:pupil|pupils|student|students|players|patient|patients|mentee|mentees|service user|service users|learner|learners|year \d+s?)\b",
        r"\b(?:designated safeguarding|safeguarding (?:lead|officer|policy|procedure|team|concern form)|dsl|child protection policy|mash referral|childrens services referral)\b",
        r"\b(?:disclosed|told|confided) (?:something )?(?:to me )?(?:at|in) (?:school|work|practice|clinic|training|session|club)\b",
    ]),
    (YOUNG_PERSON, [
        rf"\bi am (?:only |just |nearly |almost )?{_AGE}\b(?! (?:weeks|months|minutes|miles|days|hours))",
        rf"\b(?:i am|i am only|i am just) (?:a )?{_AGE} ?(?:yo|year old|yr old|years old)\b",
        r"\bi am (?:a |still a |only a |just a )?(?:kid|child|teenager|teen|schoolgirl|schoolboy)\b",
        r"\bi am in year (?:[5-9]|1[0-3])\b|\bi am in (?:primary|secondary|high) school\b",
    ]),
    # Only with a sign that it was long ago: "when I was 15" may be from a 16-year-old.
    (ADULT_SURVIVOR, [
        r"\bi am (?:now )?(?:[2-9]\d)(?: now| years old)?\b.*\b(?:abus|rape|groom|exploit|molest|assault|touch|hurt)",
        r"\b(?:abus|rape|groom|exploit|molest|assault|touch|hurt)\w*\b.*\bi am (?:now )?(?:[2-9]\d)\b(?! (?:minutes|mins|miles))",
        r"\b(?:abus|rape|groom|exploit|molest|assault|touch)\w* .*\b(?:years|decades) ago\b",
        r"\b(?:years|decades) ago\b.*\b(?:abus|rape|groom|exploit|molest|assault|touch)",
        r"\bi am a survivor\b|\badult survivor\b|\bhistoric(?:al)? (?:abuse|case|rape)\b|\bnon ?recent\b",
        r"\bback in (?:the )?(?:19\d\d|70s|80s|90s|nineties|eighties|seventies)\b|\bin the (?:19\d0s|70s|80s|90s)\b",
        r"\b(?:now i am|i am now) (?:an? )?(?:adult|grown up|grown woman|grown man|mum|mother|dad|father)\b",
    ]),
    (PARENT, [
        rf"\bmy (?:\w+ ){{0,3}}{_CHILD}\b",
        r"\b(?:as a|i am a|i am the|i am her|i am his|i am their) (?:\w+ )?(?:parent|mum|mom|dad|father|mother|grandparent|grandmother|grandfather|gran|nan|grandad|foster carer|carer|guardian|stepmum|stepdad|step mum|step dad|aunt|auntie|uncle)\b",
        r"\bi am (?:a |an )?(?:taxi|cab|uber|bus|delivery) driver\b|\bi (?:work|am) (?:on|at|in) (?:the |a )?(?:hotel|reception|shop|takeaway|chippy|bar|pub|petrol station)\b",
    ]),
    # Weaker: a child speaking of the adults at home or school.
    (YOUNG_PERSON, [
        r"\b(?:my|our) (?:mum|mom|mam|mummy|dad|daddy|stepdad|step dad|stepmum|step mum|form tutor|head of year|foster carer|foster mum|foster dad|teacher)\b",
    ]),
]
_COMPILED = [(persona, re.compile("|".join(f"(?:{c})" for c in cues))) for persona, cues in _CUES]


def persona_of(text: str) -> Optional[str]:
    """Who the message says is writing, if it says; ``None`` when it does not."""
    normal = safety.normalise(text)
    for persona, cue in _COMPILED:
        if cue.search(normal):
            return persona
    return None


def topic_of(intent: Optional[str]) -> Optional[str]:
    """The topic a message sets: its intent, unless that is a follow-up or small talk."""
    if not intent or intent in NO_TOPIC or intent.startswith(FOLLOW_UP_PREFIX):
        return None
    return intent


def service_names(directory: content.Directory) -> tuple[re.Pattern, dict[str, str]]:
    """How people name the directory's services: "Victim Support", "NSPCC", "the modern slavery helpline".

    From each entry's name: the words before any bracket, the same without a
    trailing "helpline" or "support line", and a leading acronym (NSPCC, CEOP).
    The emergency numbers are left out: "999" is not a question about a service.
    """
    names: dict[str, str] = {}
    for service in directory.services.values():
        if service.id.startswith(("police_", "relay_")):
            continue
        base = safety.normalise(service.name.split("(")[0])
        shorter = re.sub(r"\b(?:24 / 7 )?(?:helpline|support line|advice line|safety centre)\b", "", base)
        candidates = {base, shorter.strip(), safety.normalise(service.id.replace("_", " ")),
                      # "the modern slavery helpline", "the domestic abuse helpline"
                      re.sub(r"^national | and \w+", "", base)}
        first = service.name.split()[0]
        if first.isupper() and len(first) > 2:
            candidates.add(first.lower())
        for name in candidates:
            if len(name) > 3:
                names.setdefault(name, service.id)
    ordered = sorted(names, key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(re.escape(n) for n in ordered) + r")\b"), names


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False
)
class ContextCues(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {"services": "data/services.yml"}

    def __init__(self, services: Path) -> None:
        self._names, self._ids = service_names(content.load_directory(services))

    @classmethod
    def create(cls, config: Dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "ContextCues":
        path = Path({**cls.get_default_config(), **config}["services"])
        return cls(path if path.is_absolute() else project.ROOT / path)

    def service_named(self, text: str) -> Optional[str]:
        """The last service the text names, if any ("Childline or the NSPCC?" gives the NSPCC)."""
        found = self._names.findall(safety.normalise(text))
        return self._ids[found[-1]] if found else None

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            text = message.get(FULL_TEXT) or message.get(TEXT) or ""
            persona = OWN_THOUGHTS if intent == "own_thoughts" else persona_of(text)
            topic = topic_of(intent)
            if topic:
                named = self.service_named(message.get(TEXT) or "")
                short = len(text.split()) <= SHORT_WORDS
                topic = named or (None if intent in FOLLOW_UP_WHEN_SHORT and short else topic)
            found = [(TOPIC, topic), (PERSONA, persona)]
            entities = list(message.get(ENTITIES) or [])
            entities += [{ENTITY_ATTRIBUTE_TYPE: name, ENTITY_ATTRIBUTE_VALUE: value,
                          "start": 0, "end": 0, EXTRACTOR: type(self).__name__}
                         for name, value in found if value]
            message.set(ENTITIES, entities, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
