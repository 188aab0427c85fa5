"""Published scaling-law constants the report compares against; each cites its source on its line."""

# Kaplan et al. 2020, "Scaling Laws for Neural Language Models" (arXiv:2001.08361).
KAPLAN_ALPHA_N = 0.076  # Kaplan 2020 eq. 1.1: L(N) = (N_c/N)^α_N
KAPLAN_N_C = 8.8e13  # Kaplan 2020 eq. 1.1: N_c in non-embedding parameters
KAPLAN_ALPHA_D = 0.095  # Kaplan 2020 eq. 1.2: L(D) = (D_c/D)^α_D
KAPLAN_D_C = 5.4e13  # Kaplan 2020 eq. 1.2: D_c in tokens
KAPLAN_ALPHA_C_MIN = 0.050  # Kaplan 2020 eq. 1.3 / sec. 1.1: L(C_min) = (C_c^min/C_min)^α_C^min
KAPLAN_ND_ALPHA_N = 0.076  # Kaplan 2020 Table 2 (fit of eq. 1.5 L(N, D))
KAPLAN_ND_ALPHA_D = 0.103  # Kaplan 2020 Table 2 (fit of eq. 1.5 L(N, D))
KAPLAN_N_OPT_EXPONENT = 0.73  # Kaplan 2020 eq. 1.7 / sec. 6.1: N_opt ∝ C_min^0.73
KAPLAN_SHAPE_SPREAD_PCT = 3.0  # Kaplan 2020 Fig. 5 caption: aspect ratio varied 40x stays "within 3%"

# Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models" (arXiv:2203.15556).
CHINCHILLA_ISOFLOP_A = 0.49  # Hoffmann 2022 Table 2, approach 2 (IsoFLOP profiles)
CHINCHILLA_ISOFLOP_B = 0.51  # Hoffmann 2022 Table 2, approach 2 (IsoFLOP profiles)
CHINCHILLA_PARAMETRIC_A = 0.46  # Hoffmann 2022 Table 2, approach 3 (parametric fit)
CHINCHILLA_PARAMETRIC_B = 0.54  # Hoffmann 2022 Table 2, approach 3 (parametric fit)
CHINCHILLA_E = 1.69  # Hoffmann 2022 eq. 10: irreducible loss E
CHINCHILLA_A = 406.4  # Hoffmann 2022 eq. 10: A
CHINCHILLA_B = 410.7  # Hoffmann 2022 eq. 10: B
CHINCHILLA_ALPHA = 0.34  # Hoffmann 2022 eq. 10: α (parameter exponent)
CHINCHILLA_BETA = 0.28  # Hoffmann 2022 eq. 10: β (data exponent)
CHINCHILLA_HUBER_DELTA = 1e-3  # Hoffmann 2022 app. D.2: Huber δ on log-space residuals

# Training FLOPs per parameter per token, C ≈ 6·N·D.
FLOPS_PER_PARAM_TOKEN = 6.0  # Kaplan 2020 Table 1 / sec. 2.1; Hoffmann 2022 sec. 3.2 (D_opt = C/(6 N_opt))
