package patron

// SearchWithPlan is Search with the plan of a name search or listing
// given, so that tests running in parallel can each compare both plans.
var SearchWithPlan = search

// ChoosePlan is the plan a name search or listing would use.
var ChoosePlan = choosePlan
