"""Model cards shipped with bayes_ket (installed as bayes_ket.model_cards): one TOML file per named analysis."""
