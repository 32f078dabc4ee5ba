-- What blockable_of (classes.sql) needs of the policy for subdomain mail, per policy domain
-- (policy_in_force, policy.sql), and the From domains DNS says do not exist: held in
-- variables, so the few records that need them look them up instead of every record joining
-- them. duckmarc sets them before any report that classifies records; in your own queries,
-- run this file after policy.sql.
SET VARIABLE subdomain_policies = (
    SELECT map(list(policy_domain), list({'sp_published': sp_published, 'sp': sp,
                                          'np_published': np_published, 'np': np}))
    FROM policy_in_force
);
SET VARIABLE missing_names = (
    SELECT list(domain) FROM domain_existence WHERE status = 'nxdomain'
);

