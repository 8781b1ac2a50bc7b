package workflows

import (
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Search attributes operators find runs by in the Temporal UI. A cluster
// must register them before workflows set them: `starter setup` does, and
// so do the embedded stack and the test harness.
var (
	CampaignTemplateKey = temporal.NewSearchAttributeKeyKeyword("CampaignTemplate")
	CampaignIDKey       = temporal.NewSearchAttributeKeyKeyword("CampaignId")
	StageKey            = temporal.NewSearchAttributeKeyKeyword("Stage")
	BudgetUsedKey       = temporal.NewSearchAttributeKeyFloat64("BudgetUsed")
)

// SearchAttributeTypes lists the search attributes with their index types,
// for registration.
func SearchAttributeTypes() map[string]enums.IndexedValueType {
	return map[string]enums.IndexedValueType{
		CampaignTemplateKey.GetName(): enums.INDEXED_VALUE_TYPE_KEYWORD,
		CampaignIDKey.GetName():       enums.INDEXED_VALUE_TYPE_KEYWORD,
		StageKey.GetName():            enums.INDEXED_VALUE_TYPE_KEYWORD,
		BudgetUsedKey.GetName():       enums.INDEXED_VALUE_TYPE_DOUBLE,
	}
}
