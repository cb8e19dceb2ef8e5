"""Platform translators: one module per ad platform, each a pure ``Translator``."""

from __future__ import annotations

from omnirelay.trafficking.translators.base import Translator
from omnirelay.trafficking.translators.google_ads import GoogleAdsCampaignTranslator
from omnirelay.trafficking.translators.meta import MetaCampaignTranslator
from omnirelay.trafficking.translators.pinterest import PinterestCampaignTranslator
from omnirelay.trafficking.translators.snapchat import SnapchatCampaignTranslator
from omnirelay.trafficking.translators.tiktok import TikTokCampaignTranslator

_TRANSLATORS: dict[str, Translator] = {
    translator.platform: translator
    for translator in (
        MetaCampaignTranslator(),
        TikTokCampaignTranslator(),
        SnapchatCampaignTranslator(),
        PinterestCampaignTranslator(),
        GoogleAdsCampaignTranslator(),
    )
}
# Names a channel's platform_name may carry for the same platform.
ALIASES = {"FACEBOOK": "META", "INSTAGRAM": "META", "SNAP": "SNAPCHAT", "GOOGLE": "GOOGLE_ADS"}


def all_translators() -> list[Translator]:
    return list(_TRANSLATORS.values())


def platform_key(platform_name: str) -> str:
    """The platform a channel's ``platform_name`` means: case and separators ignored,
    aliases (``Facebook``, ``snap``, ``google``) resolved."""
    key = platform_name.strip().upper().replace(" ", "_").replace("-", "_")
    return ALIASES.get(key, key)


def translator_for(platform_name: str) -> Translator:
    """The translator of a channel's platform (case and separators ignored); KeyError
    naming the known platforms when there is none."""
    key = platform_key(platform_name)
    try:
        return _TRANSLATORS[key]
    except KeyError:
        known = ", ".join(sorted(_TRANSLATORS))
        raise KeyError(f"no translator for platform {platform_name!r}; known: {known}") from None
