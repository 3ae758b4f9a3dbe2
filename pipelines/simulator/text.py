"""Text banks for the simulator: job posts, proposals, messages and profiles.

Each generator renders a *bank* of distinct strings once (slot-filled templates, and optionally
real SMS ham/spam from ``../shared/data/sms_spam/messages.csv``); events then draw from a bank by
index, so text for millions of events costs one gather, not millions of format calls.
Benign banks deliberately contain look-alikes (benign users who mention WhatsApp or ask about
payment), and scam banks contain subtle variants (skilled scammers avoid the obvious words).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

SKILLS = [
    "Python",
    "React",
    "WordPress",
    "Excel",
    "Figma",
    "SEO",
    "copywriting",
    "Shopify",
    "SQL",
    "video editing",
    "bookkeeping",
    "translation",
    "Flutter",
    "Django",
    "data entry",
    "Photoshop",
]
PRODUCTS = [
    "online store",
    "mobile app",
    "landing page",
    "blog",
    "dashboard",
    "newsletter",
    "product catalog",
    "podcast",
    "brand identity",
    "CRM migration",
    "YouTube channel",
]
NAMES = [
    "Anna",
    "Ravi",
    "Maria",
    "John",
    "Chen",
    "Fatima",
    "Luis",
    "Olga",
    "Kwame",
    "Sara",
    "Tom",
    "Aisha",
    "Mateo",
    "Priya",
    "Jonas",
    "Amara",
    "Kenji",
    "Elena",
    "Omar",
    "Grace",
]
COMPANIES = [
    "Brightline",
    "Nordic Pixel",
    "Acme Retail",
    "BlueHarbor",
    "Greenleaf Labs",
    "Summit Health",
    "Keystone Media",
    "Orbit Logistics",
    "Maple & Co",
    "Vertex Studio",
]

# ---------------------------------------------------------------- benign marketplace text
_JOB_TITLES = [
    "Need a {skill} expert for our {product}",
    "Build a {product} with {skill}",
    "{skill} help for a small {product}",
    "Looking for an experienced {skill} freelancer",
    "Fix bugs in our {product}",
    "Redesign of the {product}",
    "Ongoing {skill} work, long term",
    "Quick {skill} task for {company}",
    "{skill} specialist wanted for {product} launch",
]
_JOB_DESCRIPTIONS = [
    "We are {company}, a small team. We need help with our {product}. Please share similar work you have done with {skill}. Budget is fixed, milestones through the platform.",
    "Looking for someone who knows {skill} well. The {product} is mostly done, we need polish and a few new features. Estimated {n} hours.",
    "Hi, I run a {product} and need {skill} support for the next {n} weeks. Timezone overlap of 3 hours preferred.",
    "Scope: review the current {product}, propose improvements, implement them in {skill}. Please start your proposal with the word 'banana' so I know you read this.",
    "We need a reliable freelancer for {skill}. Payment per milestone via the platform escrow. Portfolio required.",
    "Simple task: update the {product} content and check everything works. {skill} experience is a plus.",
]
_COVERS = [
    "Hi {name}, I have {n} years of {skill} experience and built a similar {product} last month. Happy to share samples.",
    "Hello, I read your post about the {product}. I can start today and deliver the first milestone in {n} days.",
    "Hi! {skill} is my main stack. I'd suggest we start with a short call here on the platform to clarify scope.",
    "Dear client, I am confident I can complete this {product} work. My rate is fair and I communicate daily.",
    "Hey {name}, I've done {n} projects like this. Questions: do you have designs ready? What is the deadline?",
]
_BENIGN_MESSAGES = [
    "Thanks for the proposal, can you share a sample of your {skill} work?",
    "Sounds good. I have sent the files through the platform.",
    "The first milestone is funded, you can start whenever you are ready.",
    "I pushed the changes to the {product}, please have a look.",
    "Could we move the deadline by {n} days? The client changed the scope.",
    "Great work on the {product}! Releasing the milestone now.",
    "Quick question about the {product}: should the footer include the logo?",
    "I'm available tomorrow between 9 and 11 for a call here on the platform.",
    "Attached the invoice for milestone {n}, thanks a lot {name}.",
    "Hi {name}, just checking in on progress for this week.",
    "No problem, take your time and let me know if anything is unclear.",
    "The platform fee is already included in my bid.",
    "I'll deposit the next milestone into escrow today.",
    "Is the payment released automatically when I approve the milestone?",
    "I reviewed the draft, a few small comments inline. Otherwise looks great.",
]
# Benign look-alikes: ordinary users who mention off-platform contact or ask about money.
_BENIGN_LOOKALIKES = [
    "Is it ok if we do a quick WhatsApp call? My internet here is unstable for video.",
    "Can you send the deposit for the first milestone so I can start?",
    "My email is {name}@gmail.com in case the platform chat is down.",
    "When will the payment be released? I need to plan my month.",
    "Could you pay the remaining amount today? It has been urgent for me.",
    "We use Telegram internally, but let's keep the contract here on the platform.",
]

# ---------------------------------------------------------------- scam text
_SCAM_JOB_TITLES = [
    "Remote data entry assistant, ${rate}/hr, no experience needed",
    "Personal assistant needed urgently, ${rate}/hr, flexible hours",
    "Easy typing job from home - ${rate} per hour - start today",
    "Product tester wanted, we send equipment, ${rate}/hr",
    "Hiring 10 freelancers now for simple online tasks, ${rate}/hr",
]
_SCAM_JOB_DESCRIPTIONS = [
    "We are hiring immediately. No interview needed. Contact our HR manager on {handle} to get your training and start earning today.",
    "Simple job, good pay. We will send you a cheque to buy the equipment from our vendor, keep the rest as your first salary.",
    "Our company is expanding. Training fee of ${fee} is refundable after the first week. Message {handle} for onboarding.",
    "Work from home, weekly pay. Fill the form at {link} to register as our agent.",
]
_SCAM_MESSAGES = {
    "off_platform": [
        "Hello dear, kindly add me on WhatsApp {handle} for the interview, this platform chat is slow.",
        "Please contact our hiring manager on Telegram {handle} to continue, we don't use this chat.",
        "Let's move to WhatsApp {handle}, I will explain the job and payment there. Urgent!",
        "Text me on {handle} right now, the position will be given to someone else today.",
    ],
    "advance_fee": [
        "To start you must pay a refundable registration fee of ${fee} via Western Union or gift cards.",
        "Congratulations you are hired! Send ${fee} for the training kit first, it will be refunded in your first salary.",
        "Kindly send the deposit of ${fee} via crypto to secure your position, deadline today.",
    ],
    "cheque": [
        "We will mail you a cheque of ${amount}. Deposit it, keep ${fee} and send the rest to our vendor for your equipment.",
        "I sent the check for ${amount}, please transfer the difference to our supplier via Zelle immediately.",
    ],
    "phishing": [
        "Your account will be suspended. Verify your payment details now at {link}",
        "Urgent: confirm your identity to receive payment {link} within 24 hours",
        "You have a pending payout of ${amount}. Claim it here {link}",
    ],
    # skilled scammers: no obvious keywords, but the same goal
    "subtle": [
        "Thanks for applying. Our team coordinates onboarding on a separate app, I will share details shortly.",
        "Before we begin, our accounts team needs to set you up with our vendor for equipment.",
        "Can you share a personal contact so our manager can reach you directly about the next steps?",
        "We prefer to handle compensation directly with our contractors, it is faster for everyone.",
    ],
}
# a new scam variant that appears in the later weeks (drift): task / crypto commission scams
_TASK_SCAM_MESSAGES = [
    "Complete 30 app review tasks daily and earn commission. Top up your task account with {coin} to unlock level 2.",
    "Your task balance shows ${amount} profit. Recharge {fee} {coin} to withdraw, our mentor will guide you.",
    "Join the optimisation team: rate products, earn bonus. Deposit {coin} to activate premium tasks.",
]


def variant_message_prefixes() -> tuple[str, ...]:
    """The fixed opening of each drift-variant (task / crypto) message template: the text before
    its first slot. Every rendered variant message starts with one of them, and no other bank's
    template does."""
    return tuple(t.split("{", 1)[0] for t in _TASK_SCAM_MESSAGES)


_FAKE_FREELANCER_COVERS = [
    "Hi, I can do this perfectly. Please pay me directly via PayPal friends and family, platform fees are too high.",
    "I have done this many times. We can skip the platform fee, send payment to my crypto wallet and I start now.",
    "Expert here. Contact me on {handle} and we arrange payment outside, cheaper for you.",
    "I deliver in 24h. Payment upfront to my personal account please, I give 20% discount.",
]
_ATO_MESSAGES = [
    "Hey, I changed my payout account, please send the remaining payment to my new bank details here {link}",
    "Hi, urgent favour: can you send ${amount} via gift card? I'll pay you back on the platform.",
    "Please re-verify our contract here {link} or the milestone will be cancelled.",
]

_PROFILE_FREELANCER = [
    "{skill} developer with {n} years of experience. I build {product}s for startups and small teams.",
    "Designer and {skill} specialist. Clear communication, on-time delivery, {n}+ happy clients.",
    "Freelance {skill} consultant. Previously at {company}. I love clean, maintainable work.",
    "Translator and writer. Native speaker, {n} years on the platform. {skill} as a side skill.",
]
_PROFILE_CLIENT = [
    "{company} - we build {product}s and hire freelancers for {skill} work.",
    "Small business owner running a {product}. I hire for {skill} and design.",
    "Hiring manager at {company}. Long-term projects, fair rates.",
    "",
]
_PROFILE_SCAM_CLIENT = [
    "International recruitment agency hiring remote staff worldwide. High pay, flexible.",
    "HR department of a global company. We offer remote jobs with weekly payment.",
    "{company} - hiring assistants and product testers.",
]

_HANDLES = [
    "+1 (555) 0134-227",
    "+44 7700 900{n}",
    "@hr_{name}_jobs",
    "wa.me/1555{n}",
    "t.me/{name}_hiring",
    "{name}.recruit@gmail.com",
    "+234 803 555 {n}",
]
_LINKS = [
    "http://bit.ly/{code}",
    "https://secure-pay-{code}.com/login",
    "http://verify-{code}.net",
    "https://tinyurl.com/{code}",
]
_COINS = ["USDT", "BTC", "ETH", "crypto"]


class TextBanks:
    """Rendered text banks; ``draw(bank, idx)`` maps integer draws to strings."""

    def __init__(
        self, rng: np.random.Generator, *, variants: int = 400, sms_csv: Path | None = None
    ):
        self._rng = rng
        self.variants = variants
        sms_ham, sms_spam = _read_sms(sms_csv)
        r = self._render
        self.banks: dict[str, list[str]] = {
            "job_title": r(_JOB_TITLES),
            "job_description": r(_JOB_DESCRIPTIONS),
            "cover": r(_COVERS),
            "benign_message": r(_BENIGN_MESSAGES),
            "benign_lookalike": r(_BENIGN_LOOKALIKES),
            "casual": sms_ham or r(_BENIGN_MESSAGES),
            "scam_job_title": r(_SCAM_JOB_TITLES),
            "scam_job_description": r(_SCAM_JOB_DESCRIPTIONS),
            "scam_subtle": r(_SCAM_MESSAGES["subtle"]),
            "scam_obvious": r(
                _SCAM_MESSAGES["off_platform"]
                + _SCAM_MESSAGES["advance_fee"]
                + _SCAM_MESSAGES["cheque"]
                + _SCAM_MESSAGES["phishing"]
            ),
            "task_scam": r(_TASK_SCAM_MESSAGES),
            "fake_freelancer_cover": r(_FAKE_FREELANCER_COVERS),
            "ato_message": r(_ATO_MESSAGES) + (sms_spam[:200] if sms_spam else []),
            "spam": sms_spam or r(_SCAM_MESSAGES["phishing"]),
            "profile_freelancer": r(_PROFILE_FREELANCER),
            "profile_client": r(_PROFILE_CLIENT),
            "profile_scam_client": r(_PROFILE_SCAM_CLIENT),
        }

    def _render(self, templates: list[str]) -> list[str]:
        rng = self._rng
        out = []
        for i in range(self.variants):
            template = templates[i % len(templates)]
            slots = {
                "skill": SKILLS[rng.integers(len(SKILLS))],
                "product": PRODUCTS[rng.integers(len(PRODUCTS))],
                "company": COMPANIES[rng.integers(len(COMPANIES))],
                "name": NAMES[rng.integers(len(NAMES))].lower(),
                "n": int(rng.integers(2, 60)),
                "rate": int(rng.integers(35, 95)),
                "fee": int(rng.integers(40, 400)),
                "amount": int(rng.integers(900, 4800)),
                "coin": _COINS[rng.integers(len(_COINS))],
                "code": "".join(rng.choice(list("abcdefghjkmnpqrstuvwxyz23456789"), 6)),
            }
            slots["handle"] = _HANDLES[rng.integers(len(_HANDLES))].format(**slots)
            slots["link"] = _LINKS[rng.integers(len(_LINKS))].format(**slots)
            out.append(template.format(**slots))
        return sorted(set(out)) if len(set(out)) > 1 else out

    def draw(self, bank: str, n: int) -> np.ndarray:
        """``n`` strings drawn uniformly from ``bank`` (object array)."""
        texts = self.banks[bank]
        return np.asarray(texts, dtype=object)[self._rng.integers(0, len(texts), size=n)]


def _read_sms(path: Path | None) -> tuple[list[str], list[str]]:
    """Ham and spam texts of the SMS corpus, or empty lists when it is absent."""
    if path is None or not Path(path).exists():
        return [], []
    ham: list[str] = []
    spam: list[str] = []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            text = (row.get("text") or "").strip()
            if text:
                (spam if row.get("label") == "1" else ham).append(text)
    return ham, spam
