"""Campaign trafficking: master data, taxonomy names, tickets with QA, platform
translators and deploys to ad platform APIs."""
