"""Master data for the ``ad_analytics_platforms`` table.

Every entry is a real platform with a server-side, conversion, offline-event, measurement or
upload API. ``credential_fields`` lists the keys a storefront's credentials JSON holds for that
platform (``secret`` fields are masked in API responses; ``kind`` marks a field that says where
requests go, a ``url`` or a ``host``, which the admin API checks is a public destination).
Every platform also accepts an optional, non-secret ``base_url`` (an override for proxies and
the sandbox, of kind ``url``), which the admin API adds to every platform's fields; it is not
repeated per platform.

Auth types and credential names were checked against the vendors' documentation (or, where
the vendor's own pages were not at hand, against documented partner integrations such as
Tealium, RudderStack, Segment, PostHog and Adobe event-forwarding connectors) for at least:
Meta, GA4, TikTok, Snapchat, Pinterest, Google Ads, Microsoft Advertising, LinkedIn, Reddit,
X, Amazon Ads, Mixpanel, Amplitude, Segment, Braze, Klaviyo, AppsFlyer, Adjust, Branch,
Customer.io, Iterable, Attentive, Impact, Awin, Rakuten, AppLovin, Nextdoor, Roku, Spotify,
LINE, Yahoo! JAPAN, Yahoo DSP, The Trade Desk, Taboola, StackAdapt, Heap, PostHog, mParticle,
Adobe Analytics, Yandex Metrica, Baidu and Kochava. Notes on the remaining entries say what
is less certain.

``auth_type`` describes how a request authenticates:

* ``access_token``: a platform-issued token sent as a query parameter or a vendor header
* ``api_key`` / ``api_secret``: a static key (or secret) in a header, query or body
* ``bearer``: ``Authorization: Bearer <token>`` with a long-lived token
* ``oauth2``: short-lived access tokens minted from client credentials / a refresh token
* ``basic``: HTTP Basic auth
* ``hmac``: the request is signed (OAuth 1.0a HMAC-SHA1 for X, HMAC-SHA256 for webhooks)
* ``none``: no credential; the account is identified by ids in the request
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

AuthType = Literal[
    "access_token", "api_key", "api_secret", "oauth2", "basic", "bearer", "hmac", "none"
]
Category = Literal[
    "ads", "analytics", "affiliate", "mobile_attribution", "cdp", "messaging", "other"
]

# A field whose value says where requests go: a URL, or a host name (no scheme, port or path).
FieldKind = Literal["url", "host"]


class CredentialField(TypedDict):
    name: str  # key in the credentials JSON, e.g. "pixel_id", "access_token"
    label: str
    secret: bool  # masked in API responses
    required: bool
    kind: NotRequired[FieldKind]  # only on destination fields


class PlatformSpec(TypedDict):
    platform_code: str  # lowercase snake, unique, e.g. "meta", "ga4", "tiktok"
    name: str
    category: Category
    auth_type: AuthType
    credential_fields: list[CredentialField]
    docs_url: str


def _f(
    name: str,
    label: str,
    *,
    secret: bool = False,
    required: bool = True,
    kind: FieldKind | None = None,
) -> CredentialField:
    field: CredentialField = {"name": name, "label": label, "secret": secret, "required": required}
    if kind is not None:
        field["kind"] = kind
    return field


def _p(
    code: str,
    name: str,
    category: Category,
    auth_type: AuthType,
    fields: list[CredentialField],
    docs_url: str,
) -> PlatformSpec:
    return {
        "platform_code": code,
        "name": name,
        "category": category,
        "auth_type": auth_type,
        "credential_fields": fields,
        "docs_url": docs_url,
    }


_OAUTH_GOOGLE = [
    _f("client_id", "OAuth client ID"),
    _f("client_secret", "OAuth client secret", secret=True),
    _f("refresh_token", "OAuth refresh token", secret=True),
]

PLATFORMS: tuple[PlatformSpec, ...] = (
    # ------------------------------------------------------------------ ads
    # POST graph.facebook.com/{ver}/{pixel_id}/events, access_token parameter; test_event_code
    # routes events to Events Manager's Test Events tab.
    _p(
        "meta",
        "Meta Conversions API",
        "ads",
        "access_token",
        [
            _f("pixel_id", "Pixel (dataset) ID"),
            _f("access_token", "Conversions API access token", secret=True),
            _f("test_event_code", "Test event code", required=False),
        ],
        "https://developers.facebook.com/docs/marketing-api/conversions-api",
    ),
    # ConversionUploadService (click conversions, enhanced conversions for leads): OAuth 2.0
    # credentials + developer token; login-customer-id header when calling through a manager.
    _p(
        "google_ads",
        "Google Ads (offline and enhanced conversions)",
        "ads",
        "oauth2",
        [
            _f("developer_token", "Developer token", secret=True),
            *_OAUTH_GOOGLE,
            _f("customer_id", "Customer ID (without dashes)"),
            _f("login_customer_id", "Manager (login) customer ID", required=False),
        ],
        "https://developers.google.com/google-ads/api/docs/conversions/overview",
    ),
    # POST capi.uet.microsoft.com/v1/{tagID}/events, Authorization: Bearer <ApiToken>.
    _p(
        "microsoft_ads",
        "Microsoft Advertising UET Conversions API",
        "ads",
        "bearer",
        [
            _f("tag_id", "UET tag ID"),
            _f("api_token", "Conversions API token", secret=True),
        ],
        "https://learn.microsoft.com/en-us/advertising/guides/uet-conversion-api-integration",
    ),
    # Campaign Management service ApplyOfflineConversions: OAuth (Microsoft identity platform)
    # + DeveloperToken, CustomerId and CustomerAccountId headers.
    _p(
        "microsoft_ads_offline",
        "Microsoft Advertising offline conversions",
        "ads",
        "oauth2",
        [
            _f("developer_token", "Developer token", secret=True),
            _f("client_id", "Application (client) ID"),
            _f("client_secret", "Client secret", secret=True, required=False),
            _f("refresh_token", "OAuth refresh token", secret=True),
            _f("customer_id", "Customer ID"),
            _f("account_id", "Account ID"),
        ],
        "https://learn.microsoft.com/en-us/advertising/campaign-management-service/applyofflineconversions",
    ),
    # POST business-api.tiktok.com/open_api/v1.3/event/track/, Access-Token header,
    # pixel_code in the body, optional test_event_code.
    _p(
        "tiktok",
        "TikTok Events API",
        "ads",
        "access_token",
        [
            _f("pixel_code", "Pixel code"),
            _f("access_token", "Events API access token", secret=True),
            _f("test_event_code", "Test event code", required=False),
        ],
        "https://ads.tiktok.com/help/article/events-api",
    ),
    # POST tr.snapchat.com/v3/{pixel_id}/events?access_token=...
    _p(
        "snapchat",
        "Snapchat Conversions API",
        "ads",
        "access_token",
        [
            _f("pixel_id", "Snap Pixel ID"),
            _f("access_token", "Conversions API token", secret=True),
        ],
        "https://developers.snap.com/api/marketing-api/Conversions-API/UsingTheAPI",
    ),
    # POST api.pinterest.com/v5/ad_accounts/{ad_account_id}/events, Authorization: Bearer
    # <conversion access token generated in Ads Manager>.
    _p(
        "pinterest",
        "Pinterest Conversions API",
        "ads",
        "bearer",
        [
            _f("ad_account_id", "Ad account ID"),
            _f("access_token", "Conversion access token", secret=True),
        ],
        "https://developers.pinterest.com/docs/api/v5/events-create",
    ),
    # POST api.linkedin.com/rest/conversionEvents, 3-legged OAuth token with rw_conversions;
    # each event names a conversion rule URN.
    _p(
        "linkedin",
        "LinkedIn Conversions API",
        "ads",
        "oauth2",
        [
            _f("access_token", "OAuth access token (rw_conversions)", secret=True),
            _f("conversion_rule_id", "Conversion rule ID"),
            _f("ad_account_id", "Sponsored ad account ID", required=False),
        ],
        "https://learn.microsoft.com/en-us/linkedin/marketing/integrations/ads-reporting/conversions-api",
    ),
    # POST ads-api.reddit.com/api/v3/accounts/{account_id}/conversions/events, Bearer
    # conversion access token.
    _p(
        "reddit",
        "Reddit Conversions API",
        "ads",
        "bearer",
        [
            _f("ad_account_id", "Ads account ID"),
            _f("access_token", "Conversion access token", secret=True),
        ],
        "https://ads-api.reddit.com/docs/v3/",
    ),
    # POST ads-api.x.com/12/measurement/conversions/{pixel_id}; Ads API requests are signed
    # with OAuth 1.0a (HMAC-SHA1) using the app's consumer keys and a user access token.
    _p(
        "x",
        "X (Twitter) Conversions API",
        "ads",
        "hmac",
        [
            _f("pixel_id", "Pixel (base tag) ID"),
            _f("consumer_key", "API (consumer) key", secret=True),
            _f("consumer_secret", "API (consumer) secret", secret=True),
            _f("access_token", "Access token", secret=True),
            _f("access_token_secret", "Access token secret", secret=True),
        ],
        "https://developer.x.com/en/docs/x-ads-api/measurement/web-conversions/conversions",
    ),
    # Login with Amazon OAuth: Bearer access token + Amazon-Advertising-API-ClientId and
    # Amazon-Advertising-API-Scope (profile id) headers.
    _p(
        "amazon_ads",
        "Amazon Ads Conversions API",
        "ads",
        "oauth2",
        [
            _f("client_id", "Login with Amazon client ID"),
            _f("client_secret", "Login with Amazon client secret", secret=True),
            _f("refresh_token", "Refresh token", secret=True),
            _f("profile_id", "Advertising profile ID"),
        ],
        "https://advertising.amazon.com/API/docs/en-us",
    ),
    # Criteo's server-side events endpoint identifies the advertiser by its partner/account
    # id; no credential is sent.
    _p(
        "criteo",
        "Criteo Events API (server-side)",
        "ads",
        "none",
        [_f("account_id", "Criteo partner (account) ID")],
        "https://developers.criteo.com/",
    ),
    # Real-Time Conversion Events (insight.adsrvr.org): advertiser id + tracking tag id.
    _p(
        "the_trade_desk",
        "The Trade Desk Real-Time Conversions",
        "ads",
        "none",
        [
            _f("advertiser_id", "Advertiser ID"),
            _f("tracking_tag_id", "Tracking tag ID"),
        ],
        "https://partner.thetradedesk.com/v3/portal/data/doc/DataConversionEventsApi",
    ),
    # POST trc.taboola.com/{account-id}/log/3/bulk-s2s-action: "No authentication is passed".
    _p(
        "taboola",
        "Taboola S2S conversions",
        "ads",
        "none",
        [_f("account_id", "Taboola account ID")],
        "https://developers.taboola.com/pixel/docs/bulk-submit-s2s-conversions",
    ),
    # Server-to-server postback keyed by the click id (ob_click_id) and conversion name; the
    # account needs nothing beyond the per-event data. (Outbrain/Teads also announced a token
    # authenticated Conversion API; not modelled here.)
    _p(
        "outbrain",
        "Outbrain S2S conversions",
        "ads",
        "none",
        [],
        "https://www.outbrain.com/help/advertisers/",
    ),
    # Quora Conversion API: Bearer access token + ad account id (names not confirmed against
    # Quora's own pages).
    _p(
        "quora",
        "Quora Conversion API",
        "ads",
        "bearer",
        [
            _f("account_id", "Ad account ID"),
            _f("access_token", "Conversion API access token", secret=True),
        ],
        "https://www.quora.com/business/",
    ),
    # DataX conversion API (dataxonline.yahoo.com): client id/secret from Yahoo's credentials
    # file, dot pixel id per integration.
    _p(
        "yahoo_dsp",
        "Yahoo DSP Conversion API",
        "ads",
        "oauth2",
        [
            _f("client_id", "Client ID"),
            _f("client_secret", "Client secret", secret=True),
            _f("pixel_id", "Dot pixel ID"),
        ],
        "https://help.yahooinc.com/datax/docs/yahoo-ad-tech-datax-api-specifications",
    ),
    # conversion-api.yahooapis.jp/v1: X-TagAccessToken header, tag_id in the body.
    _p(
        "yahoo_japan_ads",
        "Yahoo! JAPAN Ads Conversion API (LY Corporation)",
        "ads",
        "access_token",
        [
            _f("tag_id", "Tag ID"),
            _f("access_token", "Tag access token", secret=True),
        ],
        "https://ads-developers.yahoo.co.jp/ja/conversion-api/",
    ),
    # Server-side events to tags.srv.stackadapt.com keyed by the universal pixel id.
    _p(
        "stackadapt",
        "StackAdapt server-side events",
        "ads",
        "none",
        [_f("pixel_id", "Universal pixel ID")],
        "https://docs.stackadapt.com/",
    ),
    # POST b.applovin.com/v1/event?pixel_id=..., Authorization: <Conversion API key>.
    _p(
        "applovin",
        "AppLovin Axon Conversion API",
        "ads",
        "api_key",
        [
            _f("pixel_id", "Axon pixel ID"),
            _f("api_key", "Conversion API key", secret=True),
        ],
        "https://support.axon.ai/en/growth/promoting-your-websites/api/axon-conversion-api",
    ),
    # ads.nextdoor.com/v2/api: API token + advertiser (client) id or data source id.
    _p(
        "nextdoor",
        "Nextdoor Conversions API",
        "ads",
        "bearer",
        [
            _f("access_token", "API access token", secret=True),
            _f("client_id", "Advertiser (client) ID"),
            _f("data_source_id", "Data source (pixel) ID", required=False),
            _f("partner_id", "Partner ID", required=False),
        ],
        "https://developer.nextdoor.com/reference/conversion-api",
    ),
    # CAPI connection id + CAPI auth token (bearer) from Spotify Ads Manager.
    _p(
        "spotify_ads",
        "Spotify Ads Conversions API",
        "ads",
        "bearer",
        [
            _f("connection_id", "CAPI connection ID"),
            _f("access_token", "CAPI auth token", secret=True),
        ],
        "https://developer.spotify.com/documentation/ads-api",
    ),
    # events.ads.rokuapi.net: API key from Roku Ads Manager + event group id.
    _p(
        "roku",
        "Roku Ads Events API",
        "ads",
        "api_key",
        [
            _f("event_group_id", "Event group ID"),
            _f("api_key", "API key", secret=True),
        ],
        "https://help.ads.roku.com/en/articles/8880744-events-api",
    ),
    # Conversions service (batchinsert): OAuth, user profile id, Floodlight configuration and
    # activity ids.
    _p(
        "campaign_manager_360",
        "Campaign Manager 360 (Floodlight offline conversions)",
        "ads",
        "oauth2",
        [
            *_OAUTH_GOOGLE,
            _f("profile_id", "User profile ID"),
            _f("floodlight_configuration_id", "Floodlight configuration ID"),
            _f("floodlight_activity_id", "Default Floodlight activity ID", required=False),
        ],
        "https://developers.google.com/doubleclick-advertisers/guides/conversions_upload",
    ),
    # DV360 API (OAuth). DV360 conversions are Floodlight-based, so uploads usually go through
    # Campaign Manager 360; this entry carries the DV360 advertiser for that setup.
    _p(
        "display_video_360",
        "Google Display & Video 360",
        "ads",
        "oauth2",
        [*_OAUTH_GOOGLE, _f("advertiser_id", "DV360 advertiser ID")],
        "https://developers.google.com/display-video/api/guides/getting-started/overview",
    ),
    # LINE Conversion API: LINE Tag ID + access token issued in LINE Business Manager.
    _p(
        "line",
        "LINE Conversion API",
        "ads",
        "access_token",
        [
            _f("line_tag_id", "LINE Tag ID"),
            _f("access_token", "Access token", secret=True),
        ],
        "https://conversion-api-docs.linebiz.com/",
    ),
    # ocpc.baidu.com/ocpcapi/api/uploadConvertData: the advertiser's oCPC token in the body.
    _p(
        "baidu",
        "Baidu Marketing oCPC conversion upload",
        "ads",
        "access_token",
        [_f("token", "oCPC upload token", secret=True)],
        "https://dev2.baidu.com/",
    ),
    # ------------------------------------------------------------ analytics
    # POST www.google-analytics.com/mp/collect?measurement_id=...&api_secret=...
    _p(
        "ga4",
        "Google Analytics 4 Measurement Protocol",
        "analytics",
        "api_secret",
        [
            _f("measurement_id", "Measurement ID (G-XXXXXXX)"),
            _f("api_secret", "Measurement Protocol API secret", secret=True),
        ],
        "https://developers.google.com/analytics/devguides/collection/protocol/ga4",
    ),
    # POST api.mixpanel.com/import?project_id=..., Basic auth with a service account.
    _p(
        "mixpanel",
        "Mixpanel Import API",
        "analytics",
        "basic",
        [
            _f("project_id", "Project ID"),
            _f("service_account_username", "Service account username"),
            _f("service_account_secret", "Service account secret", secret=True),
            _f("project_token", "Project token", required=False),
        ],
        "https://developer.mixpanel.com/reference/import-events",
    ),
    # POST api2.amplitude.com/2/httpapi with the project API key in the body.
    _p(
        "amplitude",
        "Amplitude HTTP V2 API",
        "analytics",
        "api_key",
        [_f("api_key", "Project API key", secret=True)],
        "https://amplitude.com/docs/apis/analytics/http-v2",
    ),
    # Bulk Data Insertion API: OAuth Server-to-Server credential (Bearer token + x-api-key
    # client id); report suite per row.
    _p(
        "adobe_analytics",
        "Adobe Analytics Bulk Data Insertion API",
        "analytics",
        "oauth2",
        [
            _f("client_id", "Client ID (API key)"),
            _f("client_secret", "Client secret", secret=True),
            _f("report_suite_id", "Report suite ID"),
            _f("org_id", "IMS organization ID", required=False),
        ],
        "https://developer.adobe.com/analytics-apis/docs/2.0/guides/endpoints/bulk-data-insertion",
    ),
    # POST heapanalytics.com/api/track with app_id in the body; no auth header.
    _p(
        "heap",
        "Heap server-side API",
        "analytics",
        "none",
        [_f("app_id", "Environment (app) ID")],
        "https://developers.heap.io/reference/server-side-apis-overview",
    ),
    # POST {host}/i/v0/e/ or /batch/ with the write-only project API key (phc_...).
    _p(
        "posthog",
        "PostHog capture API",
        "analytics",
        "api_key",
        [_f("project_api_key", "Project API key", secret=True)],
        "https://posthog.com/tutorials/api-capture-events",
    ),
    # Tracking HTTP API (matomo.php); token_auth is needed to set cip/cdt server-side.
    _p(
        "matomo",
        "Matomo Tracking HTTP API",
        "analytics",
        "access_token",
        [
            _f("url", "Matomo URL", kind="url"),
            _f("site_id", "Site ID"),
            _f("token_auth", "token_auth", secret=True),
        ],
        "https://developer.matomo.org/api-reference/tracking-api",
    ),
    # POST plausible.io/api/event identified by the site domain; no credential.
    _p(
        "plausible",
        "Plausible Events API",
        "analytics",
        "none",
        [_f("domain", "Site domain")],
        "https://plausible.io/docs/events-api",
    ),
    # Server-side Track Events authenticated by the x-pendo-integration-key header carrying
    # the Track Event shared secret (not confirmed against Pendo's own pages).
    _p(
        "pendo",
        "Pendo Track Events API",
        "analytics",
        "api_key",
        [_f("track_event_secret", "Track Event shared secret", secret=True)],
        "https://developers.pendo.io/",
    ),
    # Snowplow tracker protocol to the customer's own collector; no credential.
    _p(
        "snowplow",
        "Snowplow collector",
        "analytics",
        "none",
        [
            _f("collector_url", "Collector URL", kind="url"),
            _f("app_id", "Application ID", required=False),
        ],
        "https://docs.snowplow.io/",
    ),
    # Management API offline conversions upload: OAuth token (metrika:offline_data) + counter.
    _p(
        "yandex_metrica",
        "Yandex Metrica offline conversions",
        "analytics",
        "oauth2",
        [
            _f("counter_id", "Counter (tag) ID"),
            _f("access_token", "OAuth token", secret=True),
        ],
        "https://yandex.com/dev/metrika/en/management/offline-conv",
    ),
    # ------------------------------------------------------------------ cdp
    # POST api.segment.io/v1/track, Basic auth with the source write key as username.
    _p(
        "segment",
        "Segment HTTP Tracking API",
        "cdp",
        "basic",
        [_f("write_key", "Source write key", secret=True)],
        "https://www.twilio.com/docs/segment/connections/sources/catalog/libraries/server/http-api",
    ),
    # POST {data_plane_url}/v1/track, Basic auth with the source write key.
    _p(
        "rudderstack",
        "RudderStack HTTP API",
        "cdp",
        "basic",
        [
            _f("write_key", "Source write key", secret=True),
            _f("data_plane_url", "Data plane URL", kind="url"),
        ],
        "https://www.rudderstack.com/docs/api/http-api/",
    ),
    # POST s2s.{pod}.mparticle.com/v2/events, Basic auth with the input's key and secret.
    _p(
        "mparticle",
        "mParticle Events API",
        "cdp",
        "basic",
        [
            _f("api_key", "Server-to-server key", secret=True),
            _f("api_secret", "Server-to-server secret", secret=True),
        ],
        "https://docs.mparticle.com/developers/apis/http/",
    ),
    # Tealium HTTP API (collect.tealiumiq.com/event) keyed by account/profile/data source.
    _p(
        "tealium",
        "Tealium Collect HTTP API",
        "cdp",
        "none",
        [
            _f("account", "Account"),
            _f("profile", "Profile"),
            _f("data_source_key", "Data source key"),
        ],
        "https://docs.tealium.com/",
    ),
    # ------------------------------------------------------------ messaging
    # POST {rest_endpoint}/users/track, Authorization: Bearer <REST API key>.
    _p(
        "braze",
        "Braze REST API (users/track)",
        "messaging",
        "bearer",
        [
            _f("rest_endpoint", "REST endpoint (e.g. https://rest.iad-01.braze.com)", kind="url"),
            _f("api_key", "REST API key", secret=True),
        ],
        "https://www.braze.com/docs/api/basics/",
    ),
    # POST a.klaviyo.com/api/events/, Authorization: Klaviyo-API-Key <private key>.
    _p(
        "klaviyo",
        "Klaviyo Events API",
        "messaging",
        "api_key",
        [_f("private_api_key", "Private API key", secret=True)],
        "https://developers.klaviyo.com/en/reference/create_event",
    ),
    # POST api.iterable.com/api/events/track, Api-Key header.
    _p(
        "iterable",
        "Iterable Events API",
        "messaging",
        "api_key",
        [_f("api_key", "Server-side API key", secret=True)],
        "https://api.iterable.com/api/docs",
    ),
    # Track API: Basic auth with site id and track API key.
    _p(
        "customer_io",
        "Customer.io Track API",
        "messaging",
        "basic",
        [
            _f("site_id", "Site ID"),
            _f("track_api_key", "Track API key", secret=True),
        ],
        "https://docs.customer.io/integrations/api/track/",
    ),
    # POST api.attentivemobile.com/v1/events/custom, Bearer API key of a custom app.
    _p(
        "attentive",
        "Attentive Custom Events API",
        "messaging",
        "bearer",
        [_f("api_key", "API key", secret=True)],
        "https://docs.attentive.com/",
    ),
    # Journey Builder events: OAuth client credentials of an installed package against the
    # tenant's auth subdomain; account_id (MID) selects a business unit.
    _p(
        "salesforce_marketing_cloud",
        "Salesforce Marketing Cloud Engagement",
        "messaging",
        "oauth2",
        [
            _f("subdomain", "Tenant subdomain"),
            _f("client_id", "Client ID"),
            _f("client_secret", "Client secret", secret=True),
            _f("account_id", "Business unit MID", required=False),
        ],
        "https://developer.salesforce.com/docs/marketing/marketing-cloud/",
    ),
    # ------------------------------------------------------- mobile attribution
    # POST api3.appsflyer.com/inappevent/{app_id}, "authentication" header with the S2S key.
    _p(
        "appsflyer",
        "AppsFlyer S2S Events API",
        "mobile_attribution",
        "api_key",
        [
            _f("app_id", "App ID (iOS apps prefixed with 'id')"),
            _f("dev_key", "S2S key (dev key)", secret=True),
        ],
        "https://dev.appsflyer.com/hc/reference/s2s-events-api3-overview",
    ),
    # s2s.adjust.com/event with app_token (+ per-event event_token); with S2S Security on,
    # Authorization: Bearer <S2S token>.
    _p(
        "adjust",
        "Adjust S2S Events API",
        "mobile_attribution",
        "bearer",
        [
            _f("app_token", "App token"),
            _f("s2s_token", "S2S security token", secret=True, required=False),
        ],
        "https://dev.adjust.com/en/api/s2s-api/events/",
    ),
    # POST api2.branch.io/v2/event/standard|custom with branch_key in the body.
    _p(
        "branch",
        "Branch Events API",
        "mobile_attribution",
        "api_key",
        [_f("branch_key", "Branch key", secret=True)],
        "https://help.branch.io/apidocs/events",
    ),
    # Server-to-server post-install events identified by kochava_app_id; no credential.
    _p(
        "kochava",
        "Kochava server-to-server events",
        "mobile_attribution",
        "none",
        [_f("kochava_app_id", "Kochava app ID (GUID)")],
        "https://support.kochava.com/reference-information/post-install-event-setup/",
    ),
    # S2S EVENT endpoint authenticated by the SDK key (parameter "a").
    _p(
        "singular",
        "Singular S2S Event API",
        "mobile_attribution",
        "api_key",
        [_f("sdk_key", "SDK key", secret=True)],
        "https://support.singular.net/hc/en-us/articles/31496864868635-Server-to-Server-EVENT-Endpoint-API-Reference",
    ),
    # ------------------------------------------------------------ affiliate
    # POST api.impact.com/Advertisers/{AccountSID}/Conversions, Basic auth SID:token.
    _p(
        "impact",
        "impact.com Conversions API",
        "affiliate",
        "basic",
        [
            _f("account_sid", "Account SID"),
            _f("auth_token", "Auth token", secret=True),
            _f("campaign_id", "Campaign (program) ID"),
        ],
        "https://integrations.impact.com/",
    ),
    # POST api.awin.com/s2s/advertiser/{advertiser_id}/orders, x-api-key header.
    _p(
        "awin",
        "Awin Conversion API",
        "affiliate",
        "api_key",
        [
            _f("advertiser_id", "Advertiser ID"),
            _f("api_key", "API key", secret=True),
        ],
        "https://help.awin.com/apidocs/conversion-api",
    ),
    # Advertiser Transactions API (api.linksynergy.com): OAuth client credentials + MID.
    _p(
        "rakuten",
        "Rakuten Advertising Advertiser Transactions API",
        "affiliate",
        "oauth2",
        [
            _f("advertiser_id", "Advertiser ID (MID)"),
            _f("client_id", "Client ID"),
            _f("client_secret", "Client secret", secret=True),
        ],
        "https://developers.rakutenadvertising.com/",
    ),
    # CJ server-side order reporting keyed by enterprise id and action tracker id (the exact
    # S2S auth scheme was not confirmed; modelled as unauthenticated).
    _p(
        "cj",
        "CJ Affiliate server-to-server conversions",
        "affiliate",
        "none",
        [
            _f("enterprise_id", "Enterprise ID"),
            _f("action_tracker_id", "Action tracker ID"),
            _f("tag_id", "Tag ID", required=False),
        ],
        "https://developers.cj.com/",
    ),
    # Conversion API (prf.hn/conversion/tracking_mode:api/campaign:{id}/...), keyed by the
    # campaign id and per-event click reference.
    _p(
        "partnerize",
        "Partnerize conversion API",
        "affiliate",
        "none",
        [_f("campaign_id", "Campaign ID")],
        "https://api-docs.partnerize.com/",
    ),
    # Server postback to the network's tracking domain with nid + transaction_id.
    _p(
        "everflow",
        "Everflow server postback",
        "affiliate",
        "none",
        [
            _f("tracking_domain", "Tracking domain", kind="host"),
            _f("network_id", "Network ID (nid)"),
        ],
        "https://developers.everflow.io/",
    ),
    # ---------------------------------------------------------------- other
    # Custom behavioral events (POST /events/v3/send), private app token as Bearer.
    _p(
        "hubspot",
        "HubSpot custom behavioral events",
        "other",
        "bearer",
        [_f("access_token", "Private app access token", secret=True)],
        "https://developers.hubspot.com/docs/api/analytics/events",
    ),
    # omnirelay's own generic webhook (omnirelay.destinations.webhook): JSON POST, optional
    # Stripe-style HMAC-SHA256 signature in X-Omnirelay-Signature.
    _p(
        "webhook",
        "Generic webhook",
        "other",
        "hmac",
        [
            _f("url", "Endpoint URL", kind="url"),
            _f("secret", "HMAC signing secret", secret=True, required=False),
            _f("headers", "Extra request headers (JSON object)", secret=True, required=False),
        ],
        "https://en.wikipedia.org/wiki/Webhook",
    ),
)
